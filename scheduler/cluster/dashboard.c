/* SPDX-License-Identifier: Apache-2.0
 *
 * dashboard.c: the head's HTTP endpoint (dashboard.h), on libmicrohttpd's
 * own thread. With TLS on (RAYC_TLS_DIR) it is HTTPS, libmicrohttpd's own
 * (GnuTLS), with the node's certificate: a browser trusts it once the
 * cluster's ca.crt is imported (clients show no certificate; the token
 * check stays as it is).
 */
#include "scheduler/cluster/dashboard.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/ids.h"
#include "runtime/log.h"
#include "runtime/text.h"
#include "runtime/tls.h"
#include "scheduler/cluster/status.h"

struct dashboard {
    struct MHD_Daemon *d;
    char gcs[RT_HOST_MAX + 8];
    uint8_t tok[RT_TOKEN_LEN];
    char tok_hex[2 * RT_TOKEN_LEN + 1];
    bool need_token;  /* bound off loopback */
    char *cert, *key; /* HTTPS: the node's, PEM (NUL-ended) */
};

/* RAYC_TLS_DIR/name, whole and NUL-ended (rt_malloc'd), or NULL. */
static char *
read_pem(const char *name)
{
    const char *dir = getenv("RAYC_TLS_DIR");
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *p = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *q = rt_realloc(p, cap = cap ? 2 * cap : 8192);
            if (!q || cap > (1u << 20)) { /* no PEM file is that big */
                rt_free(q ? q : p);
                fclose(f);
                return NULL;
            }
            p = q;
        }
        size_t k = fread(p + n, 1, 4096, f);
        n += k;
        if (k < 4096)
            break;
    }
    fclose(f);
    p[n] = 0;
    return p;
}

static void
dashboard_free(dashboard *d)
{
    rt_free(d->cert);
    rt_free(d->key);
    rt_free(d);
}

static const char PAGE[] =
    "<!doctype html><html><head><meta charset=\"utf-8\">"
    "<title>rayc dashboard</title><style>"
    "body{font-family:sans-serif;margin:1.5em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
    ".ALIVE{color:#070}.DEAD{color:#b00}</style></head><body>"
    "<h1>rayc cluster <span id=\"addr\"></span></h1>"
    "<p id=\"summary\">loading</p>"
    "<h2>Nodes</h2><table id=\"nodes\"><thead><tr><th>Node</th>"
    "<th>Address</th><th>State</th><th>CPUs used</th><th>Resources</th>"
    "<th>Heartbeat</th></tr></thead><tbody></tbody></table>"
    "<h2>Tasks</h2><table id=\"tasks\"><tbody></tbody></table>"
    "<h2>Drivers</h2><ul id=\"jobs\"></ul>"
    "<h2>Named actors</h2><ul id=\"actors\"></ul>"
    "<script>\n"
    "const q = location.search; /* ?token=... when the head asks for it */\n"
    "function esc(s) { return String(s).replace(/[&<>\"]/g, c => ({'&': "
    "'&amp;', '<': '&lt;', '>': '&gt;', '\"': '&quot;'})[c]); }\n"
    "function n(k, what) { return k + ' ' + what + (k == 1 ? '' : 's'); }\n"
    "function rows(id, html) { document.querySelector(id + ' tbody')"
    ".innerHTML = html; }\n"
    "async function refresh() {\n"
    "  try {\n"
    "    const s = await (await fetch('api/status' + q)).json();\n"
    "    document.getElementById('addr').textContent = s.address;\n"
    "    const alive = s.nodes.filter(n => n.state == 'ALIVE').length;\n"
    "    document.getElementById('summary').textContent = alive + ' of ' +\n"
    "      n(s.nodes.length, 'node') + ' alive, ' + n(s.jobs.length, "
    "'driver') +\n"
    "      ', ' + n(s.actors_live, 'actor') + ', object store ' +\n"
    "      n(s.object_store_bytes, 'byte');\n"
    "    rows('#nodes', s.nodes.map(n => '<tr><td>' + esc(n.node_id.slice(0, "
    "16)) +\n"
    "      '</td><td>' + esc(n.address) + '</td><td class=\"' + n.state + "
    "'\">' +\n"
    "      n.state + (n.head ? ' (head)' : '') + '</td><td>' + "
    "n.cpus_used.toFixed(1) +\n"
    "      '/' + n.cpus + '</td><td>' + esc(n.resources || '-') + "
    "'</td><td>' +\n"
    "      (n.heartbeat_age_ms / 1000).toFixed(1) + ' s ago ' + "
    "esc(n.death_reason) +\n"
    "      '</td></tr>').join(''));\n"
    "    rows('#tasks', Object.entries(s.tasks).map(([k, v]) => '<tr><th>' "
    "+ esc(k) +\n"
    "      '</th><td>' + v + '</td></tr>').join(''));\n"
    "    document.getElementById('jobs').innerHTML = s.jobs.map(j => '<li>' "
    "+\n"
    "      esc(j.program) + ' (' + esc(j.driver) + '), running ' + "
    "j.running_s + ' s</li>').join('');\n"
    "    document.getElementById('actors').innerHTML = s.named_actors.map(a "
    "=>\n"
    "      '<li>' + esc(a) + '</li>').join('');\n"
    "  } catch (e) {\n"
    "    document.getElementById('summary').textContent = 'the head does not "
    "answer: ' + e;\n"
    "  }\n"
    "  setTimeout(refresh, 2000);\n"
    "}\n"
    "refresh();\n"
    "</script></body></html>\n";

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type,
      const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* The token, when this endpoint wants it: constant-time compare. */
static bool
authorized(const dashboard *d, struct MHD_Connection *c)
{
    if (!d->need_token)
        return true;
    const char *h =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *given =
        h && !strncmp(h, "Bearer ", 7)
            ? h + 7
            : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (!given || strlen(given) != sizeof(d->tok_hex) - 1)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < sizeof(d->tok_hex) - 1; i++)
        diff |= (unsigned char)(given[i] ^ d->tok_hex[i]);
    return diff == 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_len, void **state)
{
    (void)version;
    (void)upload;
    dashboard *d = cls;
    if (!*state) { /* the headers: answer on the next call */
        *state = (void *)1;
        return MHD_YES;
    }
    *upload_len = 0;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    if (!authorized(d, c))
        return reply_text(c, MHD_HTTP_UNAUTHORIZED,
                          "the cluster token is needed: Authorization: "
                          "Bearer TOKEN, or ?token=TOKEN\n");
    bool metrics = !strcmp(url, "/metrics");
    bool status = !strcmp(url, "/api/status");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
        return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", PAGE,
                     sizeof(PAGE) - 1);
    if (!metrics && !status)
        return reply_text(c, MHD_HTTP_NOT_FOUND,
                          "not here: /, /metrics, /api/status\n");
    cl_view v;
    char why[400];
    if (cl_view_get(d->gcs, d->tok, &v, why, sizeof(why)) != RAY_OK) {
        char msg[500];
        snprintf(msg, sizeof(msg), "the GCS at %s: %s\n", d->gcs, why);
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    rt_text t = {0};
    if (metrics)
        cl_view_metrics(&v, &t);
    else
        cl_view_json(&v, &t);
    cl_view_free(&v);
    enum MHD_Result ok =
        t.oom ? reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n")
        : metrics ? reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", t.p, t.n)
                  : reply(c, MHD_HTTP_OK, "application/json", t.p, t.n);
    rt_free(t.p);
    return ok;
}

ray_err
dashboard_start(const char *ip, uint16_t port, const char *gcs,
                const uint8_t tok[RT_TOKEN_LEN], dashboard **out,
                uint16_t *bound, char *why, size_t whylen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        snprintf(why, whylen, "dashboard: '%s' is not an IPv4 address", ip);
        return RAY_EINVAL;
    }
    dashboard *d = rt_calloc(1, sizeof(*d));
    if (!d) {
        snprintf(why, whylen, "dashboard: out of memory");
        return RAY_ENOMEM;
    }
    snprintf(d->gcs, sizeof(d->gcs), "%s", gcs);
    memcpy(d->tok, tok, RT_TOKEN_LEN);
    rt_id_hex_encode(tok, RT_TOKEN_LEN, d->tok_hex);
    d->need_token = (ntohl(sa.sin_addr.s_addr) >> 24) != 127;
    bool tls = rt_tls_on();
    if (tls && (!(d->cert = read_pem("node.crt")) ||
                !(d->key = read_pem("node.key")))) {
        snprintf(why, whylen,
                 "dashboard: HTTPS needs RAYC_TLS_DIR's node.crt and "
                 "node.key, which cannot be read");
        dashboard_free(d);
        return RAY_EINVAL;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(why, whylen,
                 "dashboard: this libmicrohttpd has no TLS: with "
                 "RAYC_TLS_DIR set, start the head with --dashboard-port=-1");
        dashboard_free(d);
        return RAY_EINVAL;
    }
    /* The key and the certificate go last: without TLS, the list ends
     * before them. */
    d->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
            (tls ? MHD_USE_TLS : 0),
        port, NULL, NULL, on_request, d, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, d->key,
        MHD_OPTION_HTTPS_MEM_CERT, d->cert, MHD_OPTION_END);
    if (!d->d) {
        snprintf(why, whylen,
                 "dashboard: cannot serve HTTP%s on %s:%u (the port is "
                 "taken, or the address is not this machine's%s)",
                 tls ? "S" : "", ip, port,
                 tls ? ", or the key does not fit the certificate" : "");
        dashboard_free(d);
        return RAY_ESYSERR;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = info ? info->port : port;
    *out = d;
    return RAY_OK;
}

void
dashboard_stop(dashboard *d)
{
    if (!d)
        return;
    MHD_stop_daemon(d->d);
    dashboard_free(d);
}

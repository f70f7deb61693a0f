/* SPDX-License-Identifier: Apache-2.0
 *
 * tls.c: TLS sessions under cluster connections, and their relays
 * (tls.h). libssl is looked up at first use; the OpenSSL headers give
 * the functions' types.
 *
 * A relay is one thread per connection that polls the TCP socket and its
 * end of the socketpair (both non-blocking) and moves bytes through two
 * buffers: TLS -> caller, caller -> TLS. It ends when both ways have
 * ended, or at once when either side fails: a caller that closes its end
 * sends TLS close_notify; a peer that closes has the caller read the end
 * of the stream.
 */
#include "runtime/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"

#define RELAY_BUF (256u << 10)
#define PAIR_BUF (2 << 20) /* the socketpair's: few wake-ups per MiB */
#define RECORD_MAX 16384   /* a TLS record's payload */
#define ACCEPT_TIMEOUT_MS 10000
#define RELAYS_MAX 4096 /* relays whose transport rt_tls_transport knows */

static struct {
    pthread_once_t once;
    void *lib;
    SSL_CTX *ctx;
    char why[400];
    __typeof__(&TLS_method) method;
    __typeof__(&SSL_CTX_new) ctx_new;
    __typeof__(&SSL_CTX_use_certificate_chain_file) use_chain;
    __typeof__(&SSL_CTX_use_PrivateKey_file) use_key;
    __typeof__(&SSL_CTX_check_private_key) check_key;
    __typeof__(&SSL_CTX_load_verify_locations) load_ca;
    __typeof__(&SSL_CTX_set_verify) set_verify;
    __typeof__(&SSL_CTX_ctrl) ctx_ctrl;
    __typeof__(&SSL_CTX_set_ciphersuites) set_suites;
    __typeof__(&SSL_new) ssl_new;
    __typeof__(&SSL_free) ssl_free;
    __typeof__(&SSL_set_fd) set_fd;
    __typeof__(&SSL_set_connect_state) connect_state;
    __typeof__(&SSL_set_accept_state) accept_state;
    __typeof__(&SSL_do_handshake) handshake;
    __typeof__(&SSL_read) read;
    __typeof__(&SSL_write) write;
    __typeof__(&SSL_get_error) get_error;
    __typeof__(&SSL_shutdown) shutdown;
    __typeof__(&SSL_get_verify_result) verify_result;
    __typeof__(&ERR_get_error) err_get;
    __typeof__(&ERR_error_string_n) err_string;
    __typeof__(&ERR_clear_error) err_clear;
    __typeof__(&OPENSSL_thread_stop) thread_stop;
    __typeof__(&X509_verify_cert_error_string) verify_string;
} T = {.once = PTHREAD_ONCE_INIT};

/* Relays' ends and their transports (rt_tls_transport), and the relay
 * threads running (live: the process's exit waits for them). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* live fell */
    int app[RELAYS_MAX], tcp[RELAYS_MAX];
    size_t n;
    int live;
    pthread_once_t once;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .once = PTHREAD_ONCE_INIT};

static void *
sym(const char *name)
{
    void *p = T.lib ? dlsym(T.lib, name) : NULL;
    if (!p && !T.why[0])
        snprintf(T.why, sizeof(T.why), "libssl has no %s", name);
    return p;
}

#define LOAD(field, name) T.field = (__typeof__(T.field))sym(#name)

/* The last OpenSSL error as text (the queue is cleared). */
static void
ssl_reason(char *out, size_t len)
{
    unsigned long e = T.err_get ? T.err_get() : 0;
    if (e && T.err_string)
        T.err_string(e, out, len);
    else
        snprintf(out, len, "%s", errno ? strerror(errno) : "no reason given");
    if (T.err_clear)
        T.err_clear();
}

static void
load(void)
{
    const char *dir = getenv("RAYC_TLS_DIR");
    T.lib = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!T.lib)
        T.lib = dlopen("libssl.so", RTLD_NOW | RTLD_LOCAL);
    if (!T.lib) {
        const char *e = dlerror();
        snprintf(T.why, sizeof(T.why),
                 "TLS: cannot load OpenSSL's libssl (Debian: libssl3): %s",
                 e ? e : "not found");
        return;
    }
    LOAD(method, TLS_method);
    LOAD(ctx_new, SSL_CTX_new);
    LOAD(use_chain, SSL_CTX_use_certificate_chain_file);
    LOAD(use_key, SSL_CTX_use_PrivateKey_file);
    LOAD(check_key, SSL_CTX_check_private_key);
    LOAD(load_ca, SSL_CTX_load_verify_locations);
    LOAD(set_verify, SSL_CTX_set_verify);
    LOAD(ctx_ctrl, SSL_CTX_ctrl);
    LOAD(set_suites, SSL_CTX_set_ciphersuites);
    LOAD(ssl_new, SSL_new);
    LOAD(ssl_free, SSL_free);
    LOAD(set_fd, SSL_set_fd);
    LOAD(connect_state, SSL_set_connect_state);
    LOAD(accept_state, SSL_set_accept_state);
    LOAD(handshake, SSL_do_handshake);
    LOAD(read, SSL_read);
    LOAD(write, SSL_write);
    LOAD(get_error, SSL_get_error);
    LOAD(shutdown, SSL_shutdown);
    LOAD(verify_result, SSL_get_verify_result);
    LOAD(err_get, ERR_get_error);
    LOAD(err_string, ERR_error_string_n);
    LOAD(err_clear, ERR_clear_error);
    LOAD(thread_stop, OPENSSL_thread_stop);
    LOAD(verify_string, X509_verify_cert_error_string);
    if (T.why[0])
        return;
    T.ctx = T.ctx_new(T.method());
    if (!T.ctx) {
        snprintf(T.why, sizeof(T.why), "TLS: no context");
        return;
    }
    char path[3][1024], reason[256];
    static const char *const file[3] = {"ca.crt", "node.crt", "node.key"};
    for (int i = 0; i < 3; i++)
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, file[i]);
    int bad = -1;
    if (T.load_ca(T.ctx, path[0], NULL) != 1)
        bad = 0;
    else if (T.use_chain(T.ctx, path[1]) != 1)
        bad = 1;
    else if (T.use_key(T.ctx, path[2], SSL_FILETYPE_PEM) != 1 ||
             T.check_key(T.ctx) != 1)
        bad = 2;
    if (bad >= 0) {
        ssl_reason(reason, sizeof(reason));
        snprintf(T.why, sizeof(T.why), "TLS (RAYC_TLS_DIR): %.200s: %.150s",
                 path[bad], reason);
        return;
    }
    T.set_verify(T.ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                 NULL);
    T.ctx_ctrl(T.ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    /* AES-128-GCM first: as safe here, and faster than OpenSSL's default
     * AES-256 for the bulk of an object transfer. */
    T.set_suites(T.ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                        "TLS_CHACHA20_POLY1305_SHA256");
    /* Read ahead: a record's header and body (and the next records) in
     * one read of the socket, not two reads each. */
    T.ctx_ctrl(T.ctx, SSL_CTRL_SET_READ_AHEAD, 1, NULL);
    T.ctx_ctrl(T.ctx, SSL_CTRL_MODE,
               SSL_MODE_ENABLE_PARTIAL_WRITE |
                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
               NULL);
}

bool
rt_tls_on(void)
{
    const char *dir = getenv("RAYC_TLS_DIR");
    return dir && *dir;
}

bool
rt_tls_ready(char *why, size_t whylen)
{
    if (!rt_tls_on()) {
        snprintf(why, whylen, "TLS is off (RAYC_TLS_DIR is not set)");
        return false;
    }
    pthread_once(&T.once, load);
    if (T.why[0])
        snprintf(why, whylen, "%s", T.why);
    return !T.why[0];
}

/* ---- the relay ---- */

typedef struct relay {
    SSL *ssl;
    int tcp, app;   /* app: the relay's end of the socketpair */
    bool handshake; /* the server's handshake is still to do */
    char peer[72];  /* for messages */
    size_t in_off, in_len, out_off, out_len;
    uint8_t in[RELAY_BUF];  /* TLS -> the caller */
    uint8_t out[RELAY_BUF]; /* the caller -> TLS */
} relay;

/* OpenSSL writes to the socket with write(): a peer that went would
 * raise SIGPIPE, which kills a program that does not ignore it. The
 * relays block it for good; a caller's thread, around its handshake
 * (a SIGPIPE raised meanwhile is taken back before it is unblocked). */
static void
sigpipe_block(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static void
sigpipe_restore(const sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    struct timespec none = {0, 0};
    while (sigtimedwait(&s, NULL, &none) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void
nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Poll events the session wants after an SSL call returned n. */
static short
want_of(SSL *ssl, int n, bool *failed)
{
    int e = T.get_error(ssl, n);
    if (e == SSL_ERROR_WANT_READ)
        return POLLIN;
    if (e == SSL_ERROR_WANT_WRITE)
        return POLLOUT;
    *failed = true;
    return 0;
}

/* Run the handshake on non-blocking r->tcp until done, failed or the
 * deadline; RAY_OK, or why. */
static ray_err
do_handshake(relay *r, int64_t deadline_ns, char *why, size_t whylen)
{
    for (;;) {
        T.err_clear();
        int n = T.handshake(r->ssl);
        if (n == 1)
            return RAY_OK;
        bool failed = false;
        short ev = want_of(r->ssl, n, &failed);
        if (failed) {
            char reason[256];
            long v = T.verify_result(r->ssl);
            if (v != X509_V_OK)
                snprintf(reason, sizeof(reason), "%s", T.verify_string(v));
            else
                ssl_reason(reason, sizeof(reason));
            snprintf(why, whylen, "TLS handshake with %s failed: %s", r->peer,
                     reason);
            return RAY_EPROTO;
        }
        int64_t left = (deadline_ns - rt_clock_now_ns()) / 1000000;
        struct pollfd p = {.fd = r->tcp, .events = ev};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(why, whylen, "TLS handshake with %s: no answer in time",
                     r->peer);
            return RAY_ETIMEDOUT;
        }
    }
}

static void
relay_free(relay *r)
{
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.n; i++)
        if (R.tcp[i] == r->tcp) {
            R.app[i] = R.app[--R.n];
            R.tcp[i] = R.tcp[R.n];
            break;
        }
    pthread_mutex_unlock(&R.mu);
    if (r->ssl)
        T.ssl_free(r->ssl);
    close(r->tcp);
    close(r->app);
    rt_free(r);
}

/* Move what can move now; false when the connection is over. Sets the
 * events to wait for on each side. */
static bool
relay_step(relay *r, bool *tls_eof, bool *app_eof, short *tcp_ev, short *app_ev,
           bool *moved)
{
    bool failed = false;
    *tcp_ev = *app_ev = 0;
    *moved = false;
    if (!r->in_len)
        r->in_off = 0;
    /* TLS -> in: records while one fits, so the caller gets them in few
     * writes. */
    while (!*tls_eof && r->in_off + r->in_len + RECORD_MAX <= RELAY_BUF) {
        T.err_clear();
        size_t at = r->in_off + r->in_len;
        int n = T.read(r->ssl, r->in + at, (int)(RELAY_BUF - at));
        if (n > 0) {
            r->in_len += (size_t)n;
            *moved = true;
            continue;
        }
        *tcp_ev |= want_of(r->ssl, n, &failed);
        if (failed) /* close_notify, or the peer went */
            *tls_eof = true;
        failed = false;
        break;
    }
    if (r->in_len) { /* in -> the caller */
        ssize_t w = send(r->app, r->in + r->in_off, r->in_len, MSG_NOSIGNAL);
        if (w > 0) {
            r->in_off += (size_t)w;
            r->in_len -= (size_t)w;
            *moved = true;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            *app_ev |= POLLOUT;
        } else {
            return false; /* the caller closed its end */
        }
    }
    if (!*app_eof && !r->out_len) { /* the caller -> out */
        ssize_t n = read(r->app, r->out, sizeof(r->out));
        if (n > 0) {
            r->out_off = 0;
            r->out_len = (size_t)n;
            *moved = true;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            *app_ev |= POLLIN;
        } else {
            *app_eof = true;
        }
    }
    if (r->out_len) { /* out -> TLS */
        T.err_clear();
        int n = T.write(r->ssl, r->out + r->out_off, (int)r->out_len);
        if (n > 0) {
            r->out_off += (size_t)n;
            r->out_len -= (size_t)n;
            *moved = true;
        } else {
            *tcp_ev |= want_of(r->ssl, n, &failed);
            if (failed)
                return false; /* the peer went */
        }
    }
    if (*tls_eof && !r->in_len)
        shutdown(r->app, SHUT_WR); /* the caller reads the end */
    if (*app_eof && !r->out_len) {
        T.shutdown(r->ssl); /* close_notify */
        return false;
    }
    return !(*tls_eof && !r->in_len && *app_eof);
}

static void *
relay_main(void *arg)
{
    relay *r = arg;
    sigset_t old;
    sigpipe_block(&old);
    if (r->handshake) {
        char why[400];
        if (do_handshake(r, rt_deadline_after_ms(ACCEPT_TIMEOUT_MS), why,
                         sizeof(why)) != RAY_OK) {
            RT_LOG_RATELIMITED(RT_LOG_WARN, "%s", why);
            goto done;
        }
    }
    bool tls_eof = false, app_eof = false;
    for (;;) {
        short tcp_ev, app_ev;
        bool moved;
        if (!relay_step(r, &tls_eof, &app_eof, &tcp_ev, &app_ev, &moved))
            break;
        if (moved)
            continue;
        struct pollfd p[2] = {{.fd = r->tcp, .events = tcp_ev},
                              {.fd = r->app, .events = app_ev}};
        if (!tcp_ev && !app_ev)
            break; /* nothing left to wait for */
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
    }
done:
    relay_free(r);
    /* This thread's OpenSSL state (its error queue) goes now, not in a
     * thread-exit destructor that may race the process's own exit. */
    T.thread_stop();
    pthread_mutex_lock(&R.mu);
    R.live--;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    return NULL;
}

/* At exit: end the relays still running (both their sockets shut down)
 * and wait for them, 2 s at most, so that none is inside libssl while
 * the process ends (a sanitizer's leak check would see its memory). */
static void
relays_end(void)
{
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.n; i++) {
        shutdown(R.tcp[i], SHUT_RDWR);
        shutdown(R.app[i], SHUT_RDWR);
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2;
    while (R.live > 0 && pthread_cond_timedwait(&R.cv, &R.mu, &dl) == 0)
        ;
    pthread_mutex_unlock(&R.mu);
}

static void
relays_end_at_exit(void)
{
    atexit(relays_end);
}

/* A relay for the TLS session on tcp: *app the caller's end. */
static ray_err
relay_start(int tcp, bool accept, const char *peer, int *app, relay **out,
            char *why, size_t whylen)
{
    int sp[2];
    relay *r = rt_calloc(1, sizeof(*r));
    if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        rt_free(r);
        snprintf(why, whylen, "TLS: no relay (%s)", strerror(errno));
        return RAY_ENOMEM;
    }
    r->ssl = T.ssl_new(T.ctx);
    if (!r->ssl || T.set_fd(r->ssl, tcp) != 1) {
        if (r->ssl)
            T.ssl_free(r->ssl);
        rt_free(r);
        close(sp[0]);
        close(sp[1]);
        snprintf(why, whylen, "TLS: no session");
        return RAY_ENOMEM;
    }
    if (accept)
        T.accept_state(r->ssl);
    else
        T.connect_state(r->ssl);
    r->tcp = tcp;
    r->app = sp[1];
    r->handshake = accept;
    snprintf(r->peer, sizeof(r->peer), "%s", peer);
    nonblocking(tcp, true);
    nonblocking(sp[1], true);
    int sz = PAIR_BUF;
    for (int k = 0; k < 2; k++) {
        setsockopt(sp[k], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(sp[k], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    *app = sp[0];
    *out = r;
    return RAY_OK;
}

static bool
relay_run(relay *r, int app)
{
    pthread_once(&R.once, relays_end_at_exit);
    pthread_mutex_lock(&R.mu);
    if (R.n < RELAYS_MAX) {
        R.app[R.n] = app;
        R.tcp[R.n++] = r->tcp;
    }
    R.live++;
    pthread_mutex_unlock(&R.mu);
    /* The default stack: a program's own thread-local data lives there
     * too, so a small one can refuse to start. */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    bool ok = pthread_create(&th, &a, relay_main, r) == 0;
    pthread_attr_destroy(&a);
    if (!ok) {
        pthread_mutex_lock(&R.mu);
        R.live--;
        pthread_mutex_unlock(&R.mu);
    }
    return ok;
}

ray_err
rt_tls_client(int *fd, int timeout_ms, char *why, size_t whylen)
{
    int tcp = *fd, app = -1;
    relay *r = NULL;
    *fd = -1;
    if (!rt_tls_ready(why, whylen)) {
        close(tcp);
        return RAY_EINVAL;
    }
    char peer[72] = "the server";
    ray_err err = relay_start(tcp, false, peer, &app, &r, why, whylen);
    if (err != RAY_OK) {
        close(tcp);
        return err;
    }
    sigset_t old;
    sigpipe_block(&old);
    err = do_handshake(r, rt_deadline_after_ms(timeout_ms), why, whylen);
    sigpipe_restore(&old);
    if (err == RAY_OK && !relay_run(r, app)) {
        snprintf(why, whylen, "TLS: no relay thread");
        err = RAY_ENOMEM;
    }
    if (err != RAY_OK) {
        close(app);
        relay_free(r);
        return err;
    }
    *fd = app;
    return RAY_OK;
}

ray_err
rt_tls_server(int *fd, const char *peer)
{
    char why[400];
    int tcp = *fd, app = -1;
    relay *r = NULL;
    *fd = -1;
    ray_err err = RAY_EINVAL;
    if (!rt_tls_ready(why, sizeof(why)) ||
        (err = relay_start(tcp, true, peer, &app, &r, why, sizeof(why))) !=
            RAY_OK) {
        RT_LOG_RATELIMITED(RT_LOG_ERROR, "%s: refusing %s", why, peer);
        close(tcp);
        return err;
    }
    nonblocking(app, true);
    if (!relay_run(r, app)) {
        close(app);
        relay_free(r);
        return RAY_ENOMEM;
    }
    *fd = app;
    return RAY_OK;
}

int
rt_tls_transport(int fd)
{
    int t = fd;
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.n; i++)
        if (R.app[i] == fd) {
            t = R.tcp[i];
            break;
        }
    pthread_mutex_unlock(&R.mu);
    return t;
}

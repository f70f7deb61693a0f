/* SPDX-License-Identifier: Apache-2.0
 *
 * files.h: the few file-system steps the daemons and the CLI share:
 * making a directory with its parents, and replacing a small file whole.
 */
#ifndef RAY_RUNTIME_FILES_H
#define RAY_RUNTIME_FILES_H

#include <sys/types.h>

/* mkdir -p `path` (each missing directory with `mode`): 0, or -1 with
 * errno from the last mkdir. */
int rt_mkdir_p(const char *path, mode_t mode);

/* Write `text` to `path` through a temporary file and a rename, so a
 * reader sees the old or the new content, never a part: 0 or -1. */
int rt_write_file(const char *path, const char *text);

#endif /* RAY_RUNTIME_FILES_H */

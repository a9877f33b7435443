#ifndef CHATBOT_TESTER_CLIBUV_SHIM_H
#define CHATBOT_TESTER_CLIBUV_SHIM_H

#include <uv.h>
#include <signal.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>

/// The longest socket path (bytes, without the NUL) a `sockaddr_un` can hold on this system.
static inline size_t cbt_max_socket_path(void) {
    struct sockaddr_un addr;
    return sizeof(addr.sun_path) - 1;
}

/// Ignore SIGPIPE process-wide (libuv does not): a write to a closed peer returns EPIPE instead.
static inline void cbt_ignore_sigpipe(void) {
    signal(SIGPIPE, SIG_IGN);
}

/// A mirror of Linux `struct ucred` (not visible through Glibc in Swift).
typedef struct cbt_peer_credentials {
    int pid;
    unsigned int uid;
    unsigned int gid;
} cbt_peer_credentials;

/// Reads the peer's credentials of a connected Unix-domain socket (SO_PEERCRED on Linux,
/// LOCAL_PEERCRED/getpeereid elsewhere). Returns 0 or -errno.
static inline int cbt_peer_credentials_of_fd(int fd, cbt_peer_credentials *out) {
#if defined(__linux__)
    struct { int pid; unsigned int uid; unsigned int gid; } cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
    out->pid = cred.pid;
    out->uid = cred.uid;
    out->gid = cred.gid;
    return 0;
#else
    uid_t uid; gid_t gid;
    if (getpeereid(fd, &uid, &gid) != 0) return -errno;
    out->pid = 0;
    out->uid = uid;
    out->gid = gid;
    return 0;
#endif
}

/// The same-uid policy: 0 when `peer_uid` may connect to a server running as `own_uid`,
/// -EPERM otherwise. Separate so it can be unit-tested with fake uids.
static inline int cbt_check_peer_uid(unsigned int own_uid, unsigned int peer_uid) {
    return own_uid == peer_uid ? 0 : -EPERM;
}

/// Reads the peer credentials of `fd` and applies the same-uid policy against `geteuid()`.
/// Returns 0 when allowed, -EPERM when refused, another -errno when the credentials are unreadable.
static inline int cbt_check_peer_fd(int fd, cbt_peer_credentials *out) {
    int rc = cbt_peer_credentials_of_fd(fd, out);
    if (rc != 0) return rc;
    return cbt_check_peer_uid((unsigned int)geteuid(), out->uid);
}

/// The file descriptor of a stream handle, or -1.
static inline int cbt_stream_fd(uv_stream_t *stream) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)stream, &fd) != 0) return -1;
    return (int)fd;
}

/// A uv_buf_t from a pointer and length (keeps Swift from touching platform-specific field order).
static inline uv_buf_t cbt_buf(char *base, size_t len) {
    return uv_buf_init(base, (unsigned int)len);
}

/// Owner uid, mode bits and whether `path` is a real directory (not a symlink), via lstat.
/// Returns 0 or -errno.
static inline int cbt_lstat_dir(const char *path, unsigned int *uid, unsigned int *mode, int *is_dir) {
    struct stat st;
    if (lstat(path, &st) != 0) return -errno;
    *uid = st.st_uid;
    *mode = st.st_mode & 07777;
    *is_dir = S_ISDIR(st.st_mode) ? 1 : 0;
    return 0;
}

/// Whether `path` is a socket (lstat), 1/0, or -errno.
static inline int cbt_is_socket(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return -errno;
    return S_ISSOCK(st.st_mode) ? 1 : 0;
}


/// Whether something accepts connections on the Unix socket at `path`: 1 yes, 0 no (stale or
/// absent), -errno on other errors (e.g. -ENAMETOOLONG).
static inline int cbt_socket_is_live(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, len);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    close(fd);
    if (rc == 0) return 1;
    return (err == ECONNREFUSED || err == ENOENT) ? 0 : -err;
}

/// Sets the process' uid and gid (for tests that connect as another user). 0 or -errno.
static inline int cbt_become(unsigned int uid, unsigned int gid) {
    if (setgid(gid) != 0) return -errno;
    if (setuid(uid) != 0) return -errno;
    return 0;
}

#endif

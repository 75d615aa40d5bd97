// jotasu-shim: the per-container shim (conmon / containerd-shim's job). Why C and the
// file protocol: see src/runtime/shim.ts. One process per container, about 100-300 KB
// RSS when linked statically; runc is not resident (`runc run -d` exits once the
// container runs, and the container's init is re-parented to us as child subreaper).
//
// usage: jotasu-shim --runc BIN --root DIR --id ID --bundle DIR --dir STATE_DIR --log FILE
//          [--oom-file FILE] [--rootfs DIR --lower A:B --upper DIR --work DIR]
//          [--log-max-size BYTES] [--log-max-files N] [--line-max BYTES]
//          [--stdin] [--stdin-once] [--sync-fd N]
//
// Files written in STATE_DIR: shim.pid, pid (by runc), runc.log (by runc), exit.json,
// stdin (a FIFO, with --stdin), shim.log (only our own errors).
// --sync-fd gets one line once runc returned: "ok <pid>" or "err <message>", then EOF.
// SIGUSR1 reopens the log file (CRI ReopenContainerLog).
//
// The same binary has helper modes, so the agent needs no other tool on a pod's path:
//   jotasu-shim --launcher    spawns processes for the agent (see launcher_main)
//   jotasu-shim --sandbox [--net F] [--ipc F] [--uts F] [--hostname H] [--shm DIR]
//   jotasu-shim --umount PATH...
//   jotasu-shim --tmpfs OPTIONS PATH
//   jotasu-shim --exec --runc BIN --root DIR --pid-file F ID CMD...   (see exec_main)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *runc_bin, *runc_root, *cid, *bundle, *sdir, *log_path, *oom_file;
static const char *rootfs, *lower, *upper, *work;
static long long log_max_size = 10LL << 20;
static int log_max_files = 5;
static size_t line_max = 16384; // containerd's max_container_log_line_size default
static int want_stdin, stdin_once, sync_fd = -1;
static int tracing; // JOTASU_SHIM_TRACE=1: phase timings into shim.log (start latency work)
static struct timespec t_start;

static void diag(const char *fmt, ...);
static void trace(const char *what) {
  if (!tracing) return;
  struct timespec t, wall;
  clock_gettime(CLOCK_MONOTONIC, &t);
  clock_gettime(CLOCK_REALTIME, &wall);
  // @epoch ms: the agent's start trace (start-trace.ts) places the phase on its timeline.
  diag("trace %s +%.3f ms @%.3f", what, (t.tv_sec - t_start.tv_sec) * 1e3 + (t.tv_nsec - t_start.tv_nsec) / 1e6,
       wall.tv_sec * 1e3 + wall.tv_nsec / 1e6);
}

static void diag(const char *fmt, ...) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/shim.log", sdir);
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof b - 2) n = sizeof b - 2;
  b[n++] = '\n';
  (void)!write(fd, b, n);
  close(fd);
}

static void send_sync(const char *fmt, ...) {
  if (sync_fd < 0) return;
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof b - 2) n = sizeof b - 2;
  b[n++] = '\n';
  (void)!write(sync_fd, b, n);
  close(sync_fd);
  sync_fd = -1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= w;
  }
  return 0;
}

// Writes a small file atomically (tmp + rename), so readers never see half of it.
static void write_file_atomic(const char *name, const char *data) {
  char p[PATH_MAX], t[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", sdir, name);
  snprintf(t, sizeof t, "%s/.%s.tmp", sdir, name);
  int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { diag("open %s: %s", t, strerror(errno)); return; }
  write_all(fd, data, strlen(data));
  close(fd);
  if (rename(t, p) < 0) diag("rename %s: %s", p, strerror(errno));
}

// ---- the CRI log file: "<RFC3339Nano> <stream> <F|P> <msg>\n", rotated by size ----

static int log_fd = -1;
static long long log_size;
static char outbuf[65536];
static size_t outlen;

static void open_log(void) {
  if (log_fd >= 0) close(log_fd);
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) { diag("open log %s: %s", log_path, strerror(errno)); log_size = 0; return; }
  struct stat st;
  log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void flush_out(void) {
  if (outlen && log_fd >= 0 && write_all(log_fd, outbuf, outlen) < 0) diag("write log: %s", strerror(errno));
  outlen = 0;
}

// Rotated files are "<log>.<yyyymmdd-hhmmss>[.NNN]", the kubelet's names; names sort by age.
static int rotated_suffix(const char *s) {
  for (int i = 0; i < 15; i++) {
    if (i == 8 ? s[i] != '-' : (s[i] < '0' || s[i] > '9')) return 0;
  }
  if (s[15] == 0) return 1;
  if (s[15] != '.' || !s[16]) return 0;
  for (const char *q = s + 16; *q; q++) if (*q < '0' || *q > '9') return 0;
  return 1;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// ---- followers' pins: a `kubectl logs -f` reader's claim on the files it has not read ----
// A follower (the kubelet's log reader, src/runtime/streaming/follow-pin.ts) keeps a file
// ".<log name>.follow.<id>" beside the log: "<pid> <starttime> <inode>", the inode of the
// file it reads (0: none open yet, it needs them all). Pruning keeps that file and every
// newer one, so a follower that fell behind by more than the kept rotations still reads
// every line (upstream's kubelet has no such claim: its follower skips to the new file).
// A stalled client must not fill the disk: pins hold back at most log_max_files more
// rotated files (the log's disk use at most doubles), or 1 MiB of them when the files are
// small (with 8 KiB files a follower may then be 130 rotations behind, not just 5). A pin
// whose process is gone (pid and start time from /proc no longer match) is removed.

// The start time of a process (/proc/PID/stat field 22, in clock ticks); 0 if it is gone.
static unsigned long long proc_start(long pid) {
  char p[64], b[1024];
  snprintf(p, sizeof p, "/proc/%ld/stat", pid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return 0;
  b[n] = 0;
  char *q = strrchr(b, ')'); // the command name may contain spaces; it ends at the last ')'
  for (int f = 2; f < 22 && q; f++) q = strchr(q + 1, ' ');
  return q ? strtoull(q + 1, NULL, 10) : 0;
}

// The index in names (oldest first) of the oldest rotated file a live follower still
// needs; n when none does.
static size_t pinned_from(const char *dir, const char *base, char **names, size_t n) {
  char pre[NAME_MAX + 1];
  int pl = snprintf(pre, sizeof pre, ".%s.follow.", base);
  DIR *d = opendir(dir);
  if (!d || pl <= 0 || pl >= (int)sizeof pre) { if (d) closedir(d); return n; }
  size_t from = n;
  ino_t *inos = NULL; // of names, stat'ed once a pin needs them
  struct stat live;
  int have_live = log_fd >= 0 && fstat(log_fd, &live) == 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t el = strlen(e->d_name);
    if (strncmp(e->d_name, pre, pl) || (el > 4 && !strcmp(e->d_name + el - 4, ".tmp"))) continue;
    char p[PATH_MAX], b[128];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t r = read(fd, b, sizeof b - 1);
    close(fd);
    long pid;
    unsigned long long start, ino;
    if (r <= 0) continue;
    b[r] = 0;
    if (sscanf(b, "%ld %llu %llu", &pid, &start, &ino) != 3) continue;
    if (pid <= 0 || proc_start(pid) != start) { unlink(p); continue; } // its reader is gone
    size_t at = 0; // its file pruned already (over the cap), or none open yet: all that is left
    if (ino && have_live && (ino_t)ino == live.st_ino) at = n; // on the live log: needs no rotated file
    else if (ino) {
      if (!inos && (inos = calloc(n ? n : 1, sizeof *inos))) {
        for (size_t i = 0; i < n; i++) {
          char f[PATH_MAX];
          struct stat st;
          snprintf(f, sizeof f, "%s/%s", dir, names[i]);
          inos[i] = stat(f, &st) == 0 ? st.st_ino : 0;
        }
      }
      for (size_t i = 0; inos && i < n; i++) if (inos[i] == (ino_t)ino) { at = i; break; }
    }
    if (at < from) from = at;
  }
  closedir(d);
  free(inos);
  return from;
}

// How many rotated files followers' pins may keep beyond the limit.
static size_t pinned_extra_files(void) {
  size_t by_count = log_max_files > 1 ? (size_t)log_max_files : 1;
  size_t by_size = log_max_size > 0 ? (size_t)(((1LL << 20) + log_max_size - 1) / log_max_size) : 0;
  size_t extra = by_size > by_count ? by_size : by_count;
  return extra > 1024 ? 1024 : extra;
}

static void prune_rotated(void) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", log_path);
  char *slash = strrchr(dir, '/');
  const char *base = log_path;
  if (slash) { base = log_path + (slash - dir) + 1; *slash = 0; } else strcpy(dir, ".");
  size_t bl = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, base, bl) || e->d_name[bl] != '.' || !rotated_suffix(e->d_name + bl + 1)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      char **nn = realloc(names, cap * sizeof *names);
      if (!nn) break;
      names = nn;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmpstr);
  size_t keep = log_max_files > 1 ? (size_t)log_max_files - 1 : 1;
  size_t most = keep + pinned_extra_files(); // with followers' pins
  size_t first = n > keep ? n - keep : 0; // the oldest file kept
  if (first > 0) {
    size_t pinned = pinned_from(dir, base, names, n);
    if (pinned < first) first = n > most && pinned < n - most ? n - most : pinned;
  }
  for (size_t i = 0; i < n; i++) {
    if (i < first) {
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", dir, names[i]);
      unlink(p);
    }
    free(names[i]);
  }
  free(names);
}

static void rotate(size_t need) {
  flush_out();
  // Truncated behind our back (copytruncate): trust the file, not our count.
  struct stat st;
  if (log_fd >= 0 && fstat(log_fd, &st) == 0 && (st.st_size == 0 || st.st_size + (long long)need <= log_max_size)) {
    log_size = st.st_size;
    return;
  }
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char target[PATH_MAX];
  int n = snprintf(target, sizeof target, "%s.%04d%02d%02d-%02d%02d%02d", log_path, tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  // Several rotations in one second: .000001, .000002... always increasing, so that names
  // still sort by age after older ones were pruned.
  static time_t last_sec;
  static int last_idx;
  int idx = now == last_sec ? last_idx + 1 : 0;
  for (;; idx++) {
    if (idx) snprintf(target + n, sizeof target - n, ".%06d", idx);
    if (access(target, F_OK) != 0) break;
  }
  last_sec = now;
  last_idx = idx;
  if (rename(log_path, target) < 0) diag("rotate %s: %s", log_path, strerror(errno));
  open_log();
  prune_rotated();
}

static char ts[112];
static time_t ts_sec = -1;
static char ts_prefix[80];

static const char *timestamp(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  if (t.tv_sec != ts_sec) {
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    snprintf(ts_prefix, sizeof ts_prefix, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    ts_sec = t.tv_sec;
  }
  snprintf(ts, sizeof ts, "%s.%09ldZ", ts_prefix, t.tv_nsec);
  return ts;
}

static void emit(const char *stream, char tag, const char *msg, size_t len) {
  const char *t = timestamp();
  size_t tl = strlen(t), sl = strlen(stream);
  size_t rec = tl + 1 + sl + 3 + len + 1;
  // log_size counts what is buffered too; a record bigger than the limit still goes into an empty file.
  if (log_max_size > 0 && log_size > 0 && log_size + (long long)rec > log_max_size) rotate(rec);
  if (outlen + rec > sizeof outbuf) flush_out();
  if (rec > sizeof outbuf) { // cannot happen with line_max <= 32 KiB, but stay correct
    char head[64];
    int hl = snprintf(head, sizeof head, "%s %s %c ", t, stream, tag);
    if (log_fd >= 0) { write_all(log_fd, head, hl); write_all(log_fd, msg, len); write_all(log_fd, "\n", 1); }
    log_size += rec;
    return;
  }
  char *o = outbuf + outlen;
  memcpy(o, t, tl); o += tl; *o++ = ' ';
  memcpy(o, stream, sl); o += sl; *o++ = ' ';
  *o++ = tag; *o++ = ' ';
  memcpy(o, msg, len); o += len; *o++ = '\n';
  outlen += rec;
  log_size += rec;
}

struct stream {
  const char *name;
  int fd;
  char *buf;
  size_t len;
};

// Emits the complete lines in s->buf; a full buffer without a newline becomes a P line.
static void process(struct stream *s) {
  size_t start = 0;
  for (;;) {
    char *nl = memchr(s->buf + start, '\n', s->len - start);
    if (!nl) break;
    size_t l = nl - (s->buf + start);
    emit(s->name, 'F', s->buf + start, l);
    start += l + 1;
  }
  if (start) { memmove(s->buf, s->buf + start, s->len - start); s->len -= start; }
  if (s->len == line_max) { emit(s->name, 'P', s->buf, s->len); s->len = 0; }
}

// A line still without its newline after a pause goes out as P (a prompt, a progress bar).
static void flush_partial(struct stream *s) {
  if (s->len) { emit(s->name, 'P', s->buf, s->len); s->len = 0; }
}

// Reads what is there; returns 0 at EOF.
static int pump(struct stream *s) {
  for (;;) {
    ssize_t r = read(s->fd, s->buf + s->len, line_max - s->len);
    if (r > 0) { s->len += r; process(s); continue; }
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 1;
    diag("read %s: %s", s->name, strerror(errno));
    return 0;
  }
}

// ---- stdin: a FIFO in the state dir relayed to the container's stdin pipe ----

static int fifo_fd = -1, fifo_keep = -1, cstdin = -1;
static char stdin_buf[65536];
static size_t stdin_len;

static void close_stdin(void) {
  if (cstdin >= 0) close(cstdin);
  cstdin = -1;
  if (fifo_fd >= 0) close(fifo_fd);
  if (fifo_keep >= 0) close(fifo_keep);
  fifo_fd = fifo_keep = -1;
}

static void stdin_flush(void) {
  while (stdin_len && cstdin >= 0) {
    ssize_t w = write(cstdin, stdin_buf, stdin_len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) close_stdin(); // the container closed its stdin
      return;
    }
    memmove(stdin_buf, stdin_buf + w, stdin_len - w);
    stdin_len -= w;
  }
}

static void stdin_read(void) {
  ssize_t r = read(fifo_fd, stdin_buf + stdin_len, sizeof stdin_buf - stdin_len);
  if (r > 0) { stdin_len += r; stdin_flush(); return; }
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  // The (last) writer went away: with stdinOnce the container sees EOF.
  if (stdin_once) { stdin_flush(); close_stdin(); }
}

// ---- startup ----

static char *argval(int *i, int argc, char **argv) {
  if (*i + 1 >= argc) { fprintf(stderr, "jotasu-shim: %s needs a value\n", argv[*i]); exit(2); }
  return argv[++*i];
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--runc")) runc_bin = argval(&i, argc, argv);
    else if (!strcmp(a, "--root")) runc_root = argval(&i, argc, argv);
    else if (!strcmp(a, "--id")) cid = argval(&i, argc, argv);
    else if (!strcmp(a, "--bundle")) bundle = argval(&i, argc, argv);
    else if (!strcmp(a, "--dir")) sdir = argval(&i, argc, argv);
    else if (!strcmp(a, "--log")) log_path = argval(&i, argc, argv);
    else if (!strcmp(a, "--oom-file")) oom_file = argval(&i, argc, argv);
    else if (!strcmp(a, "--rootfs")) rootfs = argval(&i, argc, argv);
    else if (!strcmp(a, "--lower")) lower = argval(&i, argc, argv);
    else if (!strcmp(a, "--upper")) upper = argval(&i, argc, argv);
    else if (!strcmp(a, "--work")) work = argval(&i, argc, argv);
    else if (!strcmp(a, "--log-max-size")) log_max_size = atoll(argval(&i, argc, argv));
    else if (!strcmp(a, "--log-max-files")) log_max_files = atoi(argval(&i, argc, argv));
    else if (!strcmp(a, "--line-max")) line_max = (size_t)atol(argval(&i, argc, argv));
    else if (!strcmp(a, "--stdin")) want_stdin = 1;
    else if (!strcmp(a, "--stdin-once")) stdin_once = 1;
    else if (!strcmp(a, "--sync-fd")) sync_fd = atoi(argval(&i, argc, argv));
    else if (!strcmp(a, "--version")) { puts("jotasu-shim 1"); exit(0); }
    else { fprintf(stderr, "jotasu-shim: unknown argument %s\n", a); exit(2); }
  }
  if (!runc_bin || !runc_root || !cid || !bundle || !sdir || !log_path) {
    fprintf(stderr, "jotasu-shim: --runc --root --id --bundle --dir --log are required\n");
    exit(2);
  }
  if (line_max < 64) line_max = 64;
  if (line_max > 32768) line_max = 32768;
}

// The overlay root is mounted here, at start, rather than by the agent at create: one
// spawn less on the pod's critical path (a fork of the agent costs ~1 ms per 30 MB RSS).
static int mount_rootfs(char *err, size_t errlen) {
  if (!rootfs || !lower) return 0;
  struct stat a, b;
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s/..", rootfs);
  if (stat(rootfs, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev) return 0; // mounted already
  size_t n = strlen(lower) + strlen(upper) + strlen(work) + 64;
  char *opts = malloc(n);
  snprintf(opts, n, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  int r = mount("overlay", rootfs, "overlay", 0, opts);
  free(opts);
  if (r < 0) { snprintf(err, errlen, "mounting the overlay root file system: %s", strerror(errno)); return -1; }
  return 0;
}

static long read_oom_kills(void) {
  if (!oom_file) return 0;
  FILE *f = fopen(oom_file, "re");
  if (!f) return 0;
  char k[64];
  long v, res = 0;
  while (fscanf(f, "%63s %ld", k, &v) == 2) if (!strcmp(k, "oom_kill")) res = v;
  fclose(f);
  return res;
}

static void write_exit(int code, const struct timespec *fin, long oom) {
  char b[160];
  snprintf(b, sizeof b, "{\"exitCode\":%d,\"finishedAt\":\"%lld.%06ld\",\"oomKilled\":%ld}\n", code, (long long)fin->tv_sec,
           fin->tv_nsec / 1000, oom);
  write_file_atomic("exit.json", b);
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

static int shim_main(int argc, char **argv) {
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  tracing = getenv("JOTASU_SHIM_TRACE") != NULL;
  parse(argc, argv);
  trace("started");
  if (sync_fd >= 0) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  setsid(); // usually done by the agent's spawn already (EPERM then): either way, our own session
  // Orphans re-parent to us: the container's init once `runc run -d` exits.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) diag("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGCHLD, SIG_DFL); // SIG_IGN would auto-reap the container: no exit status
  if (chdir(sdir) < 0) { send_sync("err chdir %s: %s", sdir, strerror(errno)); return 1; }
  {
    char b[32];
    snprintf(b, sizeof b, "%d\n", (int)getpid());
    write_file_atomic("shim.pid", b);
  }

  sigset_t mask, orig;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, &orig);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  char err[512] = "";
  struct timespec fin = {0, 0};
  if (mount_rootfs(err, sizeof err) < 0) {
    clock_gettime(CLOCK_REALTIME, &fin);
    write_exit(128, &fin, 0);
    diag("%s", err);
    send_sync("err %s", err);
    return 1;
  }
  trace("mounted");
  open_log();

  int outp[2], errp[2], inp[2] = {-1, -1};
  if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (want_stdin && pipe2(inp, O_CLOEXEC) < 0)) {
    send_sync("err pipe: %s", strerror(errno));
    return 1;
  }
  if (want_stdin) {
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/stdin", sdir);
    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0) diag("mkfifo %s: %s", fifo, strerror(errno));
    fifo_fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    // Without stdinOnce a writer closing is not EOF: keep a writer of our own open.
    if (!stdin_once && fifo_fd >= 0) fifo_keep = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    cstdin = inp[1];
    fcntl(cstdin, F_SETFL, O_NONBLOCK);
  }

  char pidfile[PATH_MAX], runclog[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/pid", sdir);
  snprintf(runclog, sizeof runclog, "%s/runc.log", sdir);
  pid_t runc_pid = fork();
  if (runc_pid < 0) { send_sync("err fork: %s", strerror(errno)); return 1; }
  if (runc_pid == 0) {
    // runc's stdio is passed through to the container process (no terminal).
    int in = want_stdin ? inp[0] : open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(outp[1], 1);
    dup2(errp[1], 2);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    execlp(runc_bin, runc_bin, "--root", runc_root, "--log", runclog, "--log-format", "json", "run", "-d", "--pid-file",
           pidfile, "--bundle", bundle, cid, (char *)NULL);
    dprintf(2, "exec %s: %s\n", runc_bin, strerror(errno));
    _exit(127);
  }
  trace("forked runc");
  close(outp[1]);
  close(errp[1]);
  if (want_stdin) close(inp[0]);
  static char obuf[32768], ebuf[32768];
  struct stream so = {"stdout", outp[0], obuf, 0}, se = {"stderr", errp[0], ebuf, 0};
  fcntl(so.fd, F_SETFL, O_NONBLOCK);
  fcntl(se.fd, F_SETFL, O_NONBLOCK);

  pid_t cpid = 0;       // the container's init, once runc is done
  int runc_done = 0, exited = 0, code = 0;
  struct timespec deadline = {0, 0};
  for (;;) {
    struct pollfd p[5];
    int np = 0, iso = -1, ise = -1, isig = -1, ififo = -1, icin = -1;
    if (so.fd >= 0) { iso = np; p[np++] = (struct pollfd){so.fd, POLLIN, 0}; }
    if (se.fd >= 0) { ise = np; p[np++] = (struct pollfd){se.fd, POLLIN, 0}; }
    if (sfd >= 0) { isig = np; p[np++] = (struct pollfd){sfd, POLLIN, 0}; }
    if (fifo_fd >= 0 && stdin_len < sizeof stdin_buf) { ififo = np; p[np++] = (struct pollfd){fifo_fd, POLLIN, 0}; }
    if (cstdin >= 0 && stdin_len) { icin = np; p[np++] = (struct pollfd){cstdin, POLLOUT, 0}; }
    int timeout = (so.len || se.len) ? 100 : -1;
    if (exited) {
      // After the exit, drain what the container's processes wrote, but not forever (a
      // process outside the container's pid namespace may hold the pipe).
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long left = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
      if ((so.fd < 0 && se.fd < 0) || left <= 0) break;
      if (timeout < 0 || left < timeout) timeout = (int)left;
    }
    flush_out();
    int r = poll(p, np, timeout);
    if (r < 0) {
      if (errno != EINTR) { diag("poll: %s", strerror(errno)); usleep(10000); }
      continue;
    }
    if (r == 0) { flush_partial(&so); flush_partial(&se); continue; }
    if (iso >= 0 && p[iso].revents) { if (!pump(&so)) { flush_partial(&so); close(so.fd); so.fd = -1; } }
    if (ise >= 0 && p[ise].revents) { if (!pump(&se)) { flush_partial(&se); close(se.fd); se.fd = -1; } }
    if (ififo >= 0 && p[ififo].revents) stdin_read();
    if (icin >= 0 && p[icin].revents) stdin_flush();
    if (isig >= 0 && p[isig].revents) {
      struct signalfd_siginfo si;
      int reopen = 0;
      while (read(sfd, &si, sizeof si) == sizeof si) if (si.ssi_signo == SIGUSR1) reopen = 1;
      if (reopen) { flush_out(); open_log(); }
      if (!runc_done) {
        int st;
        if (waitpid(runc_pid, &st, WNOHANG) == runc_pid) {
          runc_done = 1;
          trace("runc returned");
          int rc = status_code(st);
          char pb[32] = "";
          int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
          if (fd >= 0) { ssize_t n = read(fd, pb, sizeof pb - 1); if (n > 0) pb[n] = 0; close(fd); }
          cpid = (pid_t)atol(pb);
          if (rc != 0 || cpid <= 0) {
            clock_gettime(CLOCK_REALTIME, &fin);
            code = rc ? rc : 255;
            // A start error: exit.json without a pid file; runc.log says why.
            exited = 1;
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += 1;
            send_sync("err runc run exited with status %d", rc);
            continue;
          }
          send_sync("ok %d", (int)cpid);
        }
      }
      if (runc_done && cpid > 0 && !exited) {
        for (;;) {
          int st;
          pid_t w = waitpid(-1, &st, WNOHANG);
          if (w <= 0) break;
          if (w == cpid) {
            clock_gettime(CLOCK_REALTIME, &fin);
            code = status_code(st);
            exited = 1;
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += 1;
          }
        }
      }
    }
  }
  if (so.fd >= 0) pump(&so);
  if (se.fd >= 0) pump(&se);
  flush_partial(&so);
  flush_partial(&se);
  flush_out();
  // Files that followers' pins held back past the limit: theirs are done by now, mostly.
  if (log_max_size > 0) prune_rotated();
  close_stdin();
  if (want_stdin) {
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/stdin", sdir);
    unlink(fifo);
  }
  long oom = cpid > 0 ? read_oom_kills() : 0;
  write_exit(code, &fin, oom);
  // Reap what else was re-parented to us, so nothing stays a zombie.
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
  return 0;
}

// ---- helper modes (not the shim): one small static process instead of several tools ----

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

// --sandbox: a pod's namespaces in one exec instead of unshare + sh + mount + the
// loopback CNI plugin. New net/ipc/uts namespaces (only the kinds asked for) are held by
// bind mounts of /proc/self/ns/* onto the given files (no pause process); the hostname is
// set and lo brought up inside them, and the pod's /dev/shm tmpfs mounted.
static int sandbox_main(int argc, char **argv) {
  const char *net = 0, *ipc = 0, *uts = 0, *hostname = 0, *shm = 0, *shm_opts = "mode=1777,size=65536k";
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--net")) net = argval(&i, argc, argv);
    else if (!strcmp(a, "--ipc")) ipc = argval(&i, argc, argv);
    else if (!strcmp(a, "--uts")) uts = argval(&i, argc, argv);
    else if (!strcmp(a, "--hostname")) hostname = argval(&i, argc, argv);
    else if (!strcmp(a, "--shm")) shm = argval(&i, argc, argv);
    else if (!strcmp(a, "--shm-opts")) shm_opts = argval(&i, argc, argv);
    else { fprintf(stderr, "jotasu-shim --sandbox: unknown argument %s\n", a); return 2; }
  }
  int flags = (net ? CLONE_NEWNET : 0) | (ipc ? CLONE_NEWIPC : 0) | (uts ? CLONE_NEWUTS : 0);
  if (flags && unshare(flags) < 0) { fprintf(stderr, "unshare: %s\n", strerror(errno)); return 1; }
  const char *kinds[][2] = {{"net", net}, {"ipc", ipc}, {"uts", uts}};
  for (int k = 0; k < 3; k++) {
    const char *target = kinds[k][1];
    if (!target) continue;
    char src[64];
    snprintf(src, sizeof src, "/proc/self/ns/%s", kinds[k][0]);
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) { fprintf(stderr, "creating %s: %s\n", target, strerror(errno)); return 1; }
    close(fd);
    if (mount(src, target, NULL, MS_BIND, NULL) < 0) { fprintf(stderr, "mounting %s on %s: %s\n", src, target, strerror(errno)); return 1; }
  }
  if (uts && hostname && sethostname(hostname, strlen(hostname)) < 0) { fprintf(stderr, "sethostname: %s\n", strerror(errno)); return 1; }
  if (net) {
    // What the loopback plugin does: lo up (the kernel gives it 127.0.0.1/8 and ::1).
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { fprintf(stderr, "lo: %s\n", strerror(errno)); return 1; }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) { fprintf(stderr, "setting lo up: %s\n", strerror(errno)); return 1; }
    close(s);
  }
  if (shm && mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm_opts) < 0) {
    fprintf(stderr, "mounting pod /dev/shm on %s: %s\n", shm, strerror(errno));
    return 1;
  }
  return 0;
}

// --umount P...: unmounts each path that is a mount point (one exec for a pod's ns files
// and shm instead of one `umount` each). Paths that are not mounted are no error.
static int umount_main(int argc, char **argv) {
  int rc = 0;
  for (int i = 2; i < argc; i++) {
    if (umount2(argv[i], 0) == 0 || errno == EINVAL || errno == ENOENT) continue;
    fprintf(stderr, "umount %s: %s\n", argv[i], strerror(errno));
    rc = 1;
  }
  return rc;
}

// --tmpfs OPTIONS PATH: mounts a tmpfs on PATH unless one is there already (a pod's
// secret, projected and downwardAPI volumes, memory-backed emptyDirs), without an exec
// of mount(8), which reads and parses the whole mount table first.
static int tmpfs_main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: jotasu-shim --tmpfs OPTIONS PATH\n"); return 2; }
  const char *opts = argv[2], *path = argv[3];
  struct stat st, parent;
  char up[PATH_MAX];
  snprintf(up, sizeof up, "%s/..", path);
  if (stat(path, &st) == 0 && stat(up, &parent) == 0 && st.st_dev != parent.st_dev) return 0;
  if (mount("tmpfs", path, "tmpfs", 0, *opts ? opts : NULL) < 0) {
    fprintf(stderr, "mounting tmpfs on %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

// --exec --runc BIN --root DIR --pid-file F ID CMD...: `runc exec` of CMD in container ID
// with our stdin/stdout/stderr handed to the process itself, for the kubelet's streaming
// exec. Without --detach runc relays the process's stdio through pipes of its own
// (setupProcessPipes), a copy per byte in a Go process: at streaming rates it cost about
// as much CPU as the agent. With --detach runc passes our stdio on and exits once the
// process runs; as child subreaper we get the process (re-parented to us) and its exit
// status, as containerd's shim does for exec. Exit status: the process's (128+signal when
// killed), or runc's when it could not start it (runc's message is on our stderr).
static int exec_main(int argc, char **argv) {
  const char *pid_file = 0;
  int i = 2;
  for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--runc")) runc_bin = argval(&i, argc, argv);
    else if (!strcmp(a, "--root")) runc_root = argval(&i, argc, argv);
    else if (!strcmp(a, "--pid-file")) pid_file = argval(&i, argc, argv);
    else { fprintf(stderr, "jotasu-shim --exec: unknown argument %s\n", a); return 2; }
  }
  if (!runc_bin || !runc_root || !pid_file || argc - i < 2) {
    fprintf(stderr, "jotasu-shim --exec: --runc --root --pid-file, a container id and a command are required\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) { fprintf(stderr, "PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno)); return 1; }
  signal(SIGCHLD, SIG_DFL);
  char **av = calloc((size_t)(argc - i) + 9, sizeof *av);
  int n = 0;
  av[n++] = (char *)runc_bin; av[n++] = "--root"; av[n++] = (char *)runc_root; av[n++] = "exec";
  av[n++] = "--detach"; av[n++] = "--pid-file"; av[n++] = (char *)pid_file;
  for (; i < argc; i++) av[n++] = argv[i];
  pid_t runc_pid = fork();
  if (runc_pid < 0) { fprintf(stderr, "fork: %s\n", strerror(errno)); return 1; }
  if (runc_pid == 0) {
    execvp(runc_bin, av);
    fprintf(stderr, "exec %s: %s\n", runc_bin, strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(runc_pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return status_code(st);
  char b[32] = "";
  int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
  ssize_t r = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
  if (fd >= 0) close(fd);
  pid_t target = r > 0 ? (pid_t)atoi(b) : 0;
  // The process holds the streams now; ours must not keep them open past its exit (the
  // agent sees the end of its output only when every writer has closed it).
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int f = 0; f < 3; f++) dup2(devnull, f);
  if (target <= 0) return 255;
  for (;;) {
    pid_t p = waitpid(-1, &st, 0);
    if (p == target) return status_code(st);
    if (p < 0 && errno != EINTR) return 255; // not ours to wait for (should not happen)
  }
}

// --launcher: a long-lived helper that forks and execs on the agent's behalf. Node forks
// its whole address space for every spawn (~5 ms of blocked event loop per 100 MB RSS,
// 60 % of the agent's CPU in a pod burst); this process is ~0.3 MB, so its forks are cheap.
// Requests on fd 0, answers on fd 1, all integers little-endian u32:
//   request:  len id flags nargs nenv inlen | cwd\0 argv\0... env\0... | input bytes
//   answer:   len id status outlen errlen | stdout bytes | stderr bytes
// flags: 1 = the command's environment is ours (nenv must be 0); 2 = detached with a sync
// pipe on fd 3 (the shim's protocol): answered with what fd 3 said once it is closed,
// status 0x7fffffff, and the process keeps running (we reap it later). status is the exit
// code, or -signal. An exec failure is status 127 with the reason on stderr (or fd 3).
// EOF on fd 0 (the agent is gone): we exit; running children are not touched.
#define L_INHERIT_ENV 1
#define L_SYNC 2
#define L_RUNNING 0x7fffffff

struct ljob {
  uint32_t id, flags;
  pid_t pid;
  int out, err, in; // our ends; -1 once closed
  char *obuf, *ebuf, *ibuf;
  size_t olen, ocap, elen, ecap, ilen, ioff;
  int reaped, status;
  struct ljob *next;
};
static struct ljob *ljobs;

static void lappend(char **b, size_t *len, size_t *cap, const char *p, size_t n) {
  if (*len + n > *cap) {
    size_t c = *cap ? *cap * 2 : 4096;
    while (c < *len + n) c *= 2;
    *b = realloc(*b, c);
    *cap = c;
  }
  memcpy(*b + *len, p, n);
  *len += n;
}

static void put32(char *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static void lanswer(uint32_t id, int status, const char *o, size_t ol, const char *e, size_t el) {
  char h[20];
  put32(h, (uint32_t)(16 + ol + el));
  put32(h + 4, id);
  put32(h + 8, (uint32_t)status);
  put32(h + 12, (uint32_t)ol);
  put32(h + 16, (uint32_t)el);
  if (write_all(1, h, 20) < 0 || (ol && write_all(1, o, ol) < 0) || (el && write_all(1, e, el) < 0)) exit(1);
}

static void lstart(const char *req, size_t len, sigset_t *orig) {
  uint32_t id = get32(req), flags = get32(req + 4), nargs = get32(req + 8), nenv = get32(req + 12), inlen = get32(req + 16);
  const char *p = req + 20, *end = req + len - inlen;
  char **argv = calloc(nargs + 1, sizeof *argv), **envp = calloc(nenv + 1, sizeof *envp);
  const char *cwd = p;
  p += strlen(p) + 1;
  for (uint32_t i = 0; i < nargs && p < end; i++) { argv[i] = (char *)p; p += strlen(p) + 1; }
  for (uint32_t i = 0; i < nenv && p < end; i++) { envp[i] = (char *)p; p += strlen(p) + 1; }
  if (!nargs || !argv[0]) { const char m[] = "launcher: empty command"; lanswer(id, 127, 0, 0, m, sizeof m - 1); free(argv); free(envp); return; }
  int op[2] = {-1, -1}, ep[2] = {-1, -1}, ip[2] = {-1, -1}, sp[2] = {-1, -1};
  int sync = flags & L_SYNC;
  if ((sync ? pipe2(sp, O_CLOEXEC) : (pipe2(op, O_CLOEXEC) | pipe2(ep, O_CLOEXEC))) < 0 || (inlen && pipe2(ip, O_CLOEXEC) < 0)) {
    char m[128];
    int n = snprintf(m, sizeof m, "launcher: pipe: %s", strerror(errno));
    lanswer(id, 127, 0, 0, m, n);
    free(argv); free(envp);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, orig, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    if (sync) {
      setsid();
      dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2);
      if (sp[1] == 3) fcntl(3, F_SETFD, 0); else dup2(sp[1], 3);
    } else {
      dup2(inlen ? ip[0] : devnull, 0);
      dup2(op[1], 1);
      dup2(ep[1], 2);
    }
    if (*cwd && chdir(cwd) < 0) { dprintf(sync ? 3 : 2, "err chdir %s: %s\n", cwd, strerror(errno)); _exit(127); }
    if (!(flags & L_INHERIT_ENV)) environ = envp; // execvp searches this PATH, as Node's spawn does
    execvp(argv[0], argv);
    dprintf(sync ? 3 : 2, sync ? "err exec %s: %s\n" : "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  free(argv);
  free(envp);
  if (pid < 0) {
    char m[128];
    int n = snprintf(m, sizeof m, "launcher: fork: %s", strerror(errno));
    lanswer(id, 127, 0, 0, m, n);
    for (int i = 0; i < 2; i++) { if (op[i] >= 0) close(op[i]); if (ep[i] >= 0) close(ep[i]); if (ip[i] >= 0) close(ip[i]); if (sp[i] >= 0) close(sp[i]); }
    return;
  }
  struct ljob *j = calloc(1, sizeof *j);
  j->id = id; j->flags = flags; j->pid = pid; j->in = -1; j->err = -1;
  if (sync) { close(sp[1]); j->out = sp[0]; }
  else { close(op[1]); close(ep[1]); j->out = op[0]; j->err = ep[0]; }
  if (inlen) {
    close(ip[0]);
    j->in = ip[1];
    fcntl(j->in, F_SETFL, O_NONBLOCK);
    j->ibuf = malloc(inlen);
    memcpy(j->ibuf, end, inlen);
    j->ilen = inlen;
  }
  j->next = ljobs;
  ljobs = j;
}

static void lfree(struct ljob *j) {
  if (j->out >= 0) close(j->out);
  if (j->err >= 0) close(j->err);
  if (j->in >= 0) close(j->in);
  free(j->obuf); free(j->ebuf); free(j->ibuf); free(j);
}

static int launcher_main(void) {
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask, orig;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, &orig);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  fcntl(0, F_SETFL, O_NONBLOCK);
  char *rb = 0;
  size_t rlen = 0, rcap = 0;
  int eof = 0;
  static char buf[65536];
  struct pollfd *pf = 0;
  struct ljob **pj = 0;
  int *pk = 0;
  size_t pcap = 0;
  while (!eof) {
    size_t n = 2;
    for (struct ljob *j = ljobs; j; j = j->next) n += 3;
    if (n > pcap) { pcap = n * 2; pf = realloc(pf, pcap * sizeof *pf); pj = realloc(pj, pcap * sizeof *pj); pk = realloc(pk, pcap * sizeof *pk); }
    int np = 0;
    pf[np++] = (struct pollfd){0, POLLIN, 0};
    pf[np++] = (struct pollfd){sfd, POLLIN, 0};
    for (struct ljob *j = ljobs; j; j = j->next) {
      if (j->out >= 0) { pj[np] = j; pk[np] = 0; pf[np++] = (struct pollfd){j->out, POLLIN, 0}; }
      if (j->err >= 0) { pj[np] = j; pk[np] = 1; pf[np++] = (struct pollfd){j->err, POLLIN, 0}; }
      if (j->in >= 0) { pj[np] = j; pk[np] = 2; pf[np++] = (struct pollfd){j->in, POLLOUT, 0}; }
    }
    if (poll(pf, np, -1) < 0) { if (errno == EINTR) continue; return 1; }
    for (int i = 2; i < np; i++) {
      if (!pf[i].revents) continue;
      struct ljob *j = pj[i];
      if (pk[i] == 2) {
        ssize_t w = write(j->in, j->ibuf + j->ioff, j->ilen - j->ioff);
        if (w > 0) j->ioff += w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || j->ioff == j->ilen) { close(j->in); j->in = -1; }
        continue;
      }
      int *fd = pk[i] ? &j->err : &j->out;
      ssize_t r = read(*fd, buf, sizeof buf);
      if (r > 0) { if (pk[i]) lappend(&j->ebuf, &j->elen, &j->ecap, buf, r); else lappend(&j->obuf, &j->olen, &j->ocap, buf, r); }
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) { close(*fd); *fd = -1; }
    }
    if (pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        for (struct ljob *j = ljobs; j; j = j->next) {
          if (j->pid != w) continue;
          j->reaped = 1;
          j->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : 255;
        }
      }
    }
    // Finished jobs: answered and forgotten. A sync job is done when fd 3 closed.
    for (struct ljob **pp = &ljobs; *pp;) {
      struct ljob *j = *pp;
      int done = (j->flags & L_SYNC) ? j->out < 0 : (j->reaped && j->out < 0 && j->err < 0);
      if (!done) { pp = &j->next; continue; }
      int status = (j->flags & L_SYNC) ? (j->reaped ? j->status : L_RUNNING) : j->status;
      lanswer(j->id, status, j->obuf, j->olen, j->ebuf, j->elen);
      *pp = j->next;
      lfree(j);
    }
    if (pf[0].revents) {
      for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r > 0) { lappend(&rb, &rlen, &rcap, buf, r); continue; }
        if (r == 0) eof = 1;
        else if (errno != EAGAIN && errno != EINTR) eof = 1;
        break;
      }
      size_t off = 0;
      while (rlen - off >= 4) {
        uint32_t l = get32(rb + off);
        if (rlen - off - 4 < l) break;
        if (l >= 20) lstart(rb + off + 4, l, &orig);
        off += 4 + l;
      }
      memmove(rb, rb + off, rlen - off);
      rlen -= off;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--launcher")) return launcher_main();
  if (argc > 1 && !strcmp(argv[1], "--sandbox")) return sandbox_main(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "--umount")) return umount_main(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "--tmpfs")) return tmpfs_main(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "--exec")) return exec_main(argc, argv);
  return shim_main(argc, argv);
}

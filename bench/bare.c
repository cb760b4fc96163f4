// The benchmark's launch driver: fork+exec a program COUNT times with up to
// CONCURRENCY in flight and time each launch in C, so harness overhead is the
// same for every row it measures (bare /bin/true, bubblewrap, the accuracy
// programs) and Node's own startup is never inside a timing.
//
//   bare [-i STDIN_FILE] COUNT CONCURRENCY WARMUP IDLE_MS PROGRAM [ARG...]
//
// Each child's stdin is STDIN_FILE when given (opened in the child, so
// concurrent children never share an offset), else the driver's; its stdout is
// /dev/null, so nothing it prints can mix with the driver's own output.
// WARMUP launches run first, one at a time, untimed. IDLE_MS sleeps before
// every timed launch (concurrency 1 only). Output, after all launches:
//   one line per timed launch: <latency ns> <child user+sys cpu ns> <child max rss KiB>
//   then: total <elapsed ns of the timed launches> failed <launches not exiting 0>
// The cpu and rss figures are the child's own rusage from wait4(2), the same
// numbers getrusage(RUSAGE_CHILDREN) accumulates for it.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct launch {
  pid_t pid;
  uint64_t started_ns;
};

struct sample {
  uint64_t latency_ns, cpu_ns;
  long max_rss_kb;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t timeval_ns(struct timeval tv) { return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static const char* stdin_path = NULL;
static int dev_null = -1;

static pid_t spawn(char** argv) {
  pid_t pid = fork();
  if (pid == 0) {
    if (stdin_path != NULL) {
      int input = open(stdin_path, O_RDONLY | O_CLOEXEC);
      if (input < 0 || dup2(input, 0) < 0) _exit(126);
    }
    if (dup2(dev_null, 1) < 0) _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  return pid;
}

// Waits for any child; fills its sample from the slot it was launched in.
static int reap(struct launch* slots, int slot_count, struct sample* out, int* failed) {
  int status;
  struct rusage usage;
  pid_t pid;
  while ((pid = wait4(-1, &status, 0, &usage)) < 0 && errno == EINTR) {
  }
  uint64_t ended = now_ns();
  if (pid < 0) {
    perror("wait4");
    exit(2);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) (*failed)++;
  for (int i = 0; i < slot_count; i++) {
    if (slots[i].pid != pid) continue;
    out->latency_ns = ended - slots[i].started_ns;
    out->cpu_ns = timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime);
    out->max_rss_kb = usage.ru_maxrss;
    slots[i].pid = 0;
    return i;
  }
  fprintf(stderr, "bare: reaped unknown pid %d\n", pid);
  exit(2);
}

static void warm_up(int count, char** argv) {
  for (int i = 0; i < count; i++) {
    int status;
    waitpid(spawn(argv), &status, 0);
  }
}

int main(int argc, char** argv) {
  if (argc > 2 && strcmp(argv[1], "-i") == 0) {
    stdin_path = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 6) {
    fprintf(stderr, "usage: bare [-i STDIN_FILE] COUNT CONCURRENCY WARMUP IDLE_MS PROGRAM [ARG...]\n");
    return 2;
  }
  dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (dev_null < 0) {
    perror("/dev/null");
    return 2;
  }
  int count = atoi(argv[1]), concurrency = atoi(argv[2]), warmup = atoi(argv[3]);
  long idle_ms = atol(argv[4]);
  char** program = argv + 5;
  if (count < 1 || concurrency < 1 || warmup < 0 || idle_ms < 0 || (idle_ms > 0 && concurrency != 1)) {
    fprintf(stderr, "bare: bad arguments\n");
    return 2;
  }
  struct launch* slots = calloc((size_t)concurrency, sizeof *slots);
  struct sample* samples = calloc((size_t)count, sizeof *samples);
  if (slots == NULL || samples == NULL) return 2;

  warm_up(warmup, program);
  int started = 0, done = 0, failed = 0;
  uint64_t begin = now_ns();
  uint64_t idle_total = 0;
  while (done < count) {
    for (int i = 0; i < concurrency && started < count; i++) {
      if (slots[i].pid != 0) continue;
      if (idle_ms > 0) {
        uint64_t before = now_ns();
        sleep_ms(idle_ms);
        idle_total += now_ns() - before;  // not part of the launches' elapsed time
      }
      slots[i].started_ns = now_ns();
      slots[i].pid = spawn(program);
      started++;
    }
    reap(slots, concurrency, &samples[done], &failed);
    done++;
  }
  uint64_t elapsed = now_ns() - begin - idle_total;

  // Printed only now: stdio while children are in flight would be timed too.
  for (int i = 0; i < count; i++)
    printf("%llu %llu %ld\n", (unsigned long long)samples[i].latency_ns, (unsigned long long)samples[i].cpu_ns,
           samples[i].max_rss_kb);
  printf("total %llu failed %d\n", (unsigned long long)elapsed, failed);
  free(slots);
  free(samples);
  return 0;
}

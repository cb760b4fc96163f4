// File descriptor layer: only stdin, stdout and stderr reach the program; every
// other descriptor the child inherited from Node is closed.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

bool fds_close_except(const int* keep, size_t count) {
  unsigned int next = 0;
  for (size_t i = 0; i < count; i++) {
    unsigned int fd = static_cast<unsigned int>(keep[i]);
    if (fd > next && syscall(SYS_close_range, next, fd - 1, 0U) != 0) return false;
    next = fd + 1;
  }
  return syscall(SYS_close_range, next, ~0U, 0U) == 0;
}

bool fds_install_stdio(const Plan& plan, const int (&sources)[3]) {
  for (int target = 0; target < 3; target++) {
    if (dup2(sources[target], target) < 0) child_fail(plan, Layer::Fds, "dup2", nullptr);
  }
  return true;
}

namespace {

constexpr size_t kMaxFds = 3;

// One byte with room for up to kMaxFds fds (SCM_RIGHTS), for sending or receiving.
struct FdMessage {
  uint8_t payload = 0;
  struct iovec iov;
  struct msghdr msg;
  union {
    char buf[CMSG_SPACE(kMaxFds * sizeof(int))];
    struct cmsghdr align;
  } control;  // last: cmsghdr ends in a flexible array

  explicit FdMessage(size_t count) {
    memset(&control, 0, sizeof control);
    memset(&msg, 0, sizeof msg);
    iov = {&payload, 1};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
  }
};

}  // namespace

bool fds_send(int sock, const int* fds, size_t count) {
  if (count > kMaxFds) return false;
  FdMessage message(count);
  struct msghdr& msg = message.msg;
  if (count == 0) {
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
  } else {
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

int fds_receive(int sock, int* fds, size_t max) {
  FdMessage message(kMaxFds);
  ssize_t n;
  do {
    n = recvmsg(sock, &message.msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return -1;  // 0: the other end closed without a message
  int count = 0;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&message.msg);
  if (cmsg != nullptr && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
    size_t received = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < received; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      if (i < max) fds[count++] = fd;
      else close(fd);
    }
  }
  return count;
}

}  // namespace cb

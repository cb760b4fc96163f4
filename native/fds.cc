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

bool fds_install_stdio(const Plan& plan) {
  const int sources[3] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd};
  for (int target = 0; target < 3; target++) {
    if (dup2(sources[target], target) < 0) child_fail(plan, Layer::Fds, "dup2", nullptr);
  }
  return true;
}

// One byte with room for one fd (SCM_RIGHTS), for sending or receiving.
struct FdMessage {
  char payload = 'L';
  struct iovec iov;
  struct msghdr msg;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;  // last: cmsghdr ends in a flexible array

  FdMessage() {
    memset(&control, 0, sizeof control);
    memset(&msg, 0, sizeof msg);
    iov = {&payload, 1};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
  }
};

bool fds_send_fd(int sock, int fd) {
  FdMessage message;
  struct msghdr& msg = message.msg;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

int fds_receive_fd(int sock) {
  FdMessage message;
  if (recvmsg(sock, &message.msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&message.msg);
  if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

}  // namespace cb

#include "tornado/ioloop/internal/waker.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace tornado::ioloop_internal {
namespace {

class PipeWaker final : public Waker {
 public:
  // The fds are made before the object (see make_waker).
  PipeWaker(int read_fd, int write_fd) : read_(read_fd), write_(write_fd) {}
  ~PipeWaker() override {
    close(read_);
    close(write_);
  }
  int fd() const override { return read_; }

 protected:
  void write_one() noexcept override {
    int saved = errno;
    char byte = 'x';
    // EAGAIN: the pipe is full, so it is readable already.
    [[maybe_unused]] ssize_t n = write(write_, &byte, 1);
    errno = saved;
  }
  void drain() noexcept override {
    char buf[256];
    while (read(read_, buf, sizeof buf) > 0) {
    }
  }

 private:
  int read_;
  int write_;
};

class EventfdWaker final : public Waker {
 public:
  explicit EventfdWaker(int fd) : fd_(fd) {}
  ~EventfdWaker() override { close(fd_); }
  int fd() const override { return fd_; }

 protected:
  void write_one() noexcept override {
    int saved = errno;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
    errno = saved;
  }
  void drain() noexcept override {
    uint64_t value;
    [[maybe_unused]] ssize_t n = read(fd_, &value, sizeof value);
  }

 private:
  int fd_;
};

}  // namespace

// The fds are made before the objects: a throwing polymorphic constructor
// trips GCC 12's -fsanitize=vptr.
std::unique_ptr<Waker> make_waker(WakerKind kind) {
  if (kind == WakerKind::kPipe) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "IOLoop: cannot create the waker pipe");
    }
    return std::make_unique<PipeWaker>(fds[0], fds[1]);
  }
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "IOLoop: cannot create the waker eventfd");
  }
  return std::make_unique<EventfdWaker>(fd);
}

}  // namespace tornado::ioloop_internal

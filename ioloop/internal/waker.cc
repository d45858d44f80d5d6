#include "ioloop/internal/waker.h"

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
  PipeWaker() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "IOLoop: cannot create the waker pipe");
    }
    read_ = fds[0];
    write_ = fds[1];
  }
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
  int read_ = -1;
  int write_ = -1;
};

class EventfdWaker final : public Waker {
 public:
  EventfdWaker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "IOLoop: cannot create the waker eventfd");
    }
  }
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

std::unique_ptr<Waker> make_waker(WakerKind kind) {
  if (kind == WakerKind::kPipe) return std::make_unique<PipeWaker>();
  return std::make_unique<EventfdWaker>();
}

}  // namespace tornado::ioloop_internal

#include <poll.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "tornado/ioloop/internal/poller.h"
#include "tornado/ioloop/internal/reserve.h"

namespace tornado::ioloop_internal {
namespace {

// poll(2): an array of pollfd kept dense (swap-remove) plus an index.
class PollPoller final : public Poller {
 public:
  void add(int fd, uint32_t events) override {
    if (index_.count(fd) != 0) {
      throw std::system_error(EEXIST, std::generic_category(),
                              "IOLoop: poll: fd " + std::to_string(fd) +
                                  " is already registered");
    }
    // Both containers grow first, so a failed allocation changes nothing.
    reserve_one_more(fds_);
    index_.reserve(index_.size() + 1);
    index_[fd] = fds_.size();
    fds_.push_back({fd, static_cast<short>(events), 0});
  }
  void modify(int fd, uint32_t events) override {
    auto it = index_.find(fd);
    if (it == index_.end()) {
      throw std::system_error(ENOENT, std::generic_category(),
                              "IOLoop: poll: fd " + std::to_string(fd) +
                                  " is not registered");
    }
    fds_[it->second].events = static_cast<short>(events);
  }
  void remove(int fd) noexcept override {
    auto it = index_.find(fd);
    if (it == index_.end()) return;
    size_t i = it->second;
    index_.erase(it);
    if (i + 1 != fds_.size()) {
      fds_[i] = fds_.back();
      index_[fds_[i].fd] = i;
    }
    fds_.pop_back();
  }

  void poll(int timeout_ms, std::vector<PollEvent>& out) override {
    int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw std::system_error(errno, std::generic_category(),
                              "IOLoop: poll failed");
    }
    for (const pollfd& p : fds_) {
      if (n == 0) break;
      if (p.revents == 0) continue;
      --n;
      // POLLNVAL (a closed fd still registered) is reported as an error.
      uint32_t ev = static_cast<uint16_t>(p.revents);
      if (ev & POLLNVAL) ev = (ev & ~POLLNVAL) | POLLERR;
      out.push_back({p.fd, ev});
    }
  }

  const char* name() const override { return "poll"; }

 private:
  std::vector<pollfd> fds_;
  // std::unordered_map: reserve and insert change nothing on bad_alloc.
  std::unordered_map<int, size_t> index_;
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() {
  return std::make_unique<PollPoller>();
}

}  // namespace tornado::ioloop_internal

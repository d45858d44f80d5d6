// A web spider over a fake in-process site: Tornado's queue-based crawler
// demo (its docs' "Queue example - a concurrent web spider"), written with
// //queues and //locks.
//
//   bazel run //examples:crawler
//
// N workers take URLs from a Queue; a Semaphore bounds how many fetches
// run at once; each fetch gets a deadline with gen::wait_for (a fetch past
// it is cancelled, and has finished, when the worker goes on); join()
// says when every URL put has been processed. The "site" is a graph of
// pages made from a fixed seed, each with a latency: most answer in a few
// milliseconds, a few far past the deadline, so the summary printed is the
// same on every run.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/locks/locks.h"
#include "tornado/queues/queues.h"

using namespace std::chrono_literals;
using tornado::Future;
using tornado::IOLoop;
using tornado::TimeoutError;
namespace gen = tornado::gen;
namespace locks = tornado::locks;
namespace queues = tornado::queues;

namespace {

constexpr int kPages = 120;
constexpr int kWorkers = 10;
constexpr int kMaxFetches = 3;
constexpr auto kDeadline = 150ms;
const std::string kBase = "http://site.test/";

std::string url_of(int page) { return kBase + "page/" + std::to_string(page); }

// The fake site: page i links to a few others; its latency is what a
// fetch of it takes.
struct Site {
  std::vector<std::vector<int>> links;
  std::vector<std::chrono::milliseconds> latency;

  explicit Site(unsigned seed) : links(kPages), latency(kPages) {
    std::mt19937 rng(seed);
    for (int i = 0; i < kPages; ++i) {
      const int n = static_cast<int>(rng() % 5);  // 0 to 4 links
      for (int k = 0; k < n; ++k) links[i].push_back(static_cast<int>(rng() % kPages));
      // One page in twenty is slow: far past the deadline.
      latency[i] = rng() % 20 == 0 ? 1000ms : std::chrono::milliseconds(1 + rng() % 8);
    }
    links[0] = {1, 2, 3, 4, 5};  // the home page links to a few
  }

  int page_of(const std::string& url) const {
    if (url == kBase) return 0;
    return std::stoi(url.substr(kBase.size() + 5));
  }
};

// The fake fetch: the page's links, after its latency.
Future<std::vector<std::string>> fetch(const Site& site, std::string url) {
  const int page = site.page_of(url);
  co_await gen::sleep(site.latency[page]);
  std::vector<std::string> out;
  for (int l : site.links[page]) out.push_back(url_of(l));
  co_return out;
}

struct Crawl {
  explicit Crawl(const Site& s) : site(s) {}
  const Site& site;
  queues::Queue<std::string> q;
  locks::Semaphore fetches{kMaxFetches};
  std::set<std::string> seen, fetched, timed_out;
  int active = 0, peak = 0;
};

// Fetches `url` (once) and queues the links it has not seen yet.
Future<void> crawl_one(Crawl& c, std::string url) {
  std::vector<std::string> links;
  {
    auto slot = co_await c.fetches.scoped();  // at most kMaxFetches at once
    c.peak = std::max(c.peak, ++c.active);
    try {
      links = co_await gen::wait_for(kDeadline, fetch(c.site, url));
    } catch (const TimeoutError&) {
      --c.active;
      c.timed_out.insert(url);
      co_return;
    }
    --c.active;
  }
  c.fetched.insert(url);
  for (std::string& link : links) {
    if (c.seen.insert(link).second) co_await c.q.put(std::move(link));
  }
}

// Takes URLs until it gets the empty one.
Future<void> worker(Crawl& c) {
  for (;;) {
    std::string url = co_await c.q.get();
    if (url.empty()) {
      c.q.task_done();
      co_return;
    }
    co_await crawl_one(c, std::move(url));
    c.q.task_done();
  }
}

Future<void> crawl() {
  const Site site(2017);
  Crawl c(site);
  std::printf("crawling %s with %d workers, at most %d fetches at a time, %lld ms per page\n",
              kBase.c_str(), kWorkers, kMaxFetches, static_cast<long long>(kDeadline.count()));
  c.seen.insert(kBase);
  co_await c.q.put(kBase);
  std::vector<Future<void>> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(worker(c));
  co_await c.q.join(30s);  // every URL queued has been processed
  for (int i = 0; i < kWorkers; ++i) co_await c.q.put("");
  co_await gen::multi(workers);

  std::printf("fetched %zu pages, %zu timed out:", c.fetched.size(), c.timed_out.size());
  for (const std::string& url : c.timed_out) std::printf(" %s", url.c_str() + kBase.size());
  std::printf("\n");
  const bool each_once = c.fetched.size() + c.timed_out.size() == c.seen.size();
  std::printf("every URL seen was fetched or timed out, once: %s\n", each_once ? "yes" : "no");
  std::printf("concurrent fetches never above %d: %s\n", kMaxFetches,
              c.peak <= kMaxFetches ? "yes" : "no");
}

}  // namespace

int main() {
  IOLoop loop;
  loop.run_sync(crawl);
  loop.shutdown();
}

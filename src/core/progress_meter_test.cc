#include "core/progress_meter.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tfckpt {
namespace {

TEST(ProgressMeter, ReportsNothingWithoutAFunction) {
  ProgressMeter meter(nullptr, 100);
  meter.Add(50);
  meter.Finish();  // (no crash, nothing to call)
}

TEST(ProgressMeter, ThrottlesAndEndsWithTheTotal) {
  std::vector<std::pair<int64_t, int64_t>> calls;
  ProgressMeter meter([&](int64_t d, int64_t t) { calls.emplace_back(d, t); }, 1000,
                      std::chrono::hours(1));
  for (int i = 0; i < 10; i++) meter.Add(10);
  ASSERT_EQ(calls.size(), 1u);  // the first at once; then an hour has not passed
  EXPECT_EQ(calls[0].first, 10);
  meter.Finish();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].first, 1000);
  EXPECT_EQ(calls[1].second, 1000);
}

TEST(ProgressMeter, NeverDecreasesNorPassesTheTotal) {
  std::vector<int64_t> done;
  ProgressMeter meter(
      [&](int64_t d, int64_t t) {
        done.push_back(d);
        EXPECT_EQ(t, 100);
      },
      100, std::chrono::milliseconds(0));
  meter.Add(60);
  meter.Add(60);  // more than the estimate
  meter.Finish();
  EXPECT_EQ(done, (std::vector<int64_t>{60, 100}));  // (Finish: said already)
}

TEST(ProgressMeter, CountsFromManyThreadsAndNeverCallsTwiceAtOnce) {
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  int64_t last = 0;
  bool decreased = false;
  ProgressMeter meter(
      [&](int64_t d, int64_t) {
        if (inside.fetch_add(1) != 0) overlapped = true;
        if (d < last) decreased = true;
        last = d;
        inside.fetch_sub(1);
      },
      4 * 10000, std::chrono::milliseconds(0));
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; k++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; i++) meter.Add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  meter.Finish();
  EXPECT_FALSE(overlapped.load());
  EXPECT_FALSE(decreased);
  EXPECT_EQ(last, 40000);
}

}  // namespace
}  // namespace tfckpt

// ThreadPool: a fixed set of worker threads running submitted jobs, each job's completion
// observable through a std::future.
//
// Thread-safety: Submit may be called from any thread; the destructor waits for queued jobs.

#ifndef TFCKPT_EXEC_THREAD_POOL_H_
#define TFCKPT_EXEC_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace tfckpt {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 0; i < threads; i++) {
      workers_.emplace_back([this] {
        while (true) {
          std::packaged_task<void()> job;
          {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
          }
          job();
        }
      });
    }
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::future<void> Submit(std::function<void()> fn) {
    std::packaged_task<void()> job(std::move(fn));
    std::future<void> done = job.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return done;
  }
  int size() const { return static_cast<int>(workers_.size()); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

}  // namespace tfckpt

#endif  // TFCKPT_EXEC_THREAD_POOL_H_

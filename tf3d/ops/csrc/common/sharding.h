// Race-free parallel accumulation for gradient kernels.
//
// A gradient kernel walks work units (rays, image tiles) ordered by batch
// example and scatters into a per-example gradient. Units of one example run
// on several threads, so each of K chunks (a contiguous range of units) adds
// into a private double buffer that only spans the examples the chunk
// touches; the buffers are summed afterwards. Memory is (B + K) gradients,
// not K * B, and the sum is deterministic for a given thread count.
#ifndef TF3D_OPS_CSRC_COMMON_SHARDING_H_
#define TF3D_OPS_CSRC_COMMON_SHARDING_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/util/work_sharder.h"

namespace tf3d {

// Runs `body(unit, grad_of_example)` for units [0, batch * units_per_example)
// where `grad_of_example(b)` points at `example_size` doubles owned by the
// calling chunk; then writes the summed gradient into `out` (batch *
// example_size values).
template <typename Body>
void ShardedScatter(tensorflow::OpKernelContext* context, int64_t batch, int64_t units_per_example,
                    int64_t example_size, int64_t cost_per_unit, const Body& body,
                    std::vector<double>* out) {
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  const int64_t units = batch * units_per_example;
  out->assign(batch * example_size, 0.0);
  if (units == 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(workers->num_threads, units));
  std::vector<int64_t> first_b(chunks), last_b(chunks);
  std::vector<std::vector<double>> buffers(chunks);
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t u0 = units * k / chunks, u1 = units * (k + 1) / chunks;
      if (u0 >= u1) continue;
      first_b[k] = u0 / units_per_example;
      last_b[k] = (u1 - 1) / units_per_example;
      std::vector<double>& buf = buffers[k];
      buf.assign((last_b[k] - first_b[k] + 1) * example_size, 0.0);
      const int64_t b0 = first_b[k];
      auto grad_of_example = [&buf, b0, example_size](int64_t b) {
        return buf.data() + (b - b0) * example_size;
      };
      for (int64_t u = u0; u < u1; ++u) body(u, grad_of_example);
    }
  };
  // Each chunk is a whole thread's worth of work, so ask for one shard each.
  tensorflow::Shard(workers->num_threads, workers->workers, chunks,
                    std::max<int64_t>(cost_per_unit * (units / chunks), 1 << 20), work);
  for (int64_t k = 0; k < chunks; ++k) {
    if (buffers[k].empty()) continue;
    double* dst = out->data() + first_b[k] * example_size;
    for (size_t i = 0; i < buffers[k].size(); ++i) dst[i] += buffers[k][i];
  }
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_COMMON_SHARDING_H_

// Race-free, thread-count-independent parallel accumulation for gradient kernels.
//
// A gradient kernel walks work units (rays, image tiles) ordered by batch
// example and scatters into a per-example gradient. Units of one example run
// on several threads, so each of K chunks (a contiguous range of units) adds
// into a private double buffer that only spans the examples the chunk
// touches; the buffers are summed afterwards in chunk order. Memory is
// (B + K) gradients, not K * B.
//
// K depends on the sizes only, never on the number of threads, so a gradient
// is bit-identical whether TensorFlow runs the kernel on one thread or many:
// every element is summed in the same order.
#ifndef TF3D_OPS_CSRC_COMMON_SHARDING_H_
#define TF3D_OPS_CSRC_COMMON_SHARDING_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/util/work_sharder.h"
#include "limits.h"

namespace tf3d {

// At most this many chunks (enough to keep a large CPU busy) ...
constexpr int64_t kMaxChunks = 64;
// ... and at most this many doubles (256 MiB) of chunk-private gradient
// beyond the B gradients that the chunks share out, so big grids use fewer
// chunks.
constexpr int64_t kChunkScratchDoubles = int64_t{1} << 25;

inline int64_t NumChunks(int64_t units, int64_t example_size) {
  const int64_t by_memory = kChunkScratchDoubles / std::max<int64_t>(1, example_size);
  return std::max<int64_t>(1, std::min({units, kMaxChunks, by_memory}));
}

// Runs `body(unit, grad_of_example)` for units [0, batch * units_per_example)
// where `grad_of_example(b)` points at `example_size` doubles owned by the
// calling chunk; then writes the summed gradient into `out` (batch *
// example_size values).
template <typename Body>
void ShardedScatter(tensorflow::OpKernelContext* context, int64_t batch, int64_t units_per_example,
                    int64_t example_size, double cost_per_unit, const Body& body,
                    std::vector<double>* out) {
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  const int64_t units = batch * units_per_example;
  out->assign(batch * example_size, 0.0);
  if (units == 0) return;
  const int64_t chunks = NumChunks(units, example_size);
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
  // Each chunk is a sizeable piece of work: at least a shard of its own.
  const double chunk_cost = std::max(cost_per_unit * static_cast<double>(units) / chunks, 1e6);
  tensorflow::Shard(workers->num_threads, workers->workers, chunks, ShardCost(chunks, chunk_cost),
                    work);
  for (int64_t k = 0; k < chunks; ++k) {
    if (buffers[k].empty()) continue;
    double* dst = out->data() + first_b[k] * example_size;
    for (size_t i = 0; i < buffers[k].size(); ++i) dst[i] += buffers[k][i];
  }
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_COMMON_SHARDING_H_

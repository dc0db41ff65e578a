// Size limits and overflow-safe arithmetic shared by the silhouette kernels.
//
// Absurd sizes must fail with an InvalidArgument, never abort the process:
// TensorShape's constructor CHECK-fails when B * h * w overflows, and
// per-tile structures sized from a huge image exhaust memory before any
// output exists. So every kernel builds its output shape through
// `ImageShape` (overflow-checked, capped at kMaxPixels), allocates its
// outputs before anything sized by the image, and converts doubles to
// integers only after clamping them into range.
#ifndef TF3D_OPS_CSRC_COMMON_LIMITS_H_
#define TF3D_OPS_CSRC_COMMON_LIMITS_H_

#include <algorithm>
#include <cstdint>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace tf3d {

// The most pixels (B * h * w) one call renders: 8 GiB of float32 output.
// tf3d/ops/_camera.py's MAX_PIXELS is the same number.
constexpr int64_t kMaxPixels = (int64_t{1} << 31) - 1;

// `shape` = [batch, height, width], or an InvalidArgument naming the sizes
// when a dimension is negative or the pixel count exceeds kMaxPixels.
inline absl::Status ImageShape(int64_t batch, int64_t height, int64_t width,
                               tensorflow::TensorShape* shape) {
  if (batch < 0 || height < 1 || width < 1) {
    return tensorflow::errors::InvalidArgument("image size must be positive, got [B, h, w] = [",
                                               batch, ", ", height, ", ", width, "]");
  }
  // Checked in double first: the int64 product itself may overflow.
  const double pixels = static_cast<double>(batch) * height * width;
  if (pixels > static_cast<double>(kMaxPixels)) {
    return tensorflow::errors::InvalidArgument(
        "B * h * w = ", batch, " * ", height, " * ", width, " pixels exceeds the limit of ",
        kMaxPixels, " per call: render fewer or smaller images at a time");
  }
  return tensorflow::TensorShape::BuildTensorShape({batch, height, width}, shape);
}

// x clamped to [lo, hi] and converted; NaN gives lo.
inline int64_t ClampToInt64(double x, int64_t lo, int64_t hi) {
  if (!(x > static_cast<double>(lo))) return lo;
  if (!(x < static_cast<double>(hi))) return hi;
  return static_cast<int64_t>(x);
}

// A cost_per_unit for tensorflow::Shard that cannot overflow total * cost
// inside it (the product is computed in int64 there).
inline int64_t ShardCost(int64_t total, double cost_per_unit) {
  const double limit = static_cast<double>(int64_t{1} << 60) / std::max<double>(1.0, total);
  return std::max<int64_t>(1, ClampToInt64(cost_per_unit, 1, static_cast<int64_t>(limit)));
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_COMMON_LIMITS_H_

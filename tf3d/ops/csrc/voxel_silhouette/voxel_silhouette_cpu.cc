// CPU kernels and registration of VoxelSilhouette and its gradient.
//
// Forward: one ray per pixel (voxel_silhouette.h), sharded over image rows of
// all examples on TensorFlow's CPU worker pool. Backward, per ray and in
// O(S) time and O(1) memory: a first pass recomputes the optical depth (or
// finds the maximum), a second scatters
//   drc: ds/dsigma_v = T L sum_i w_iv   (T = 1 - s, w_iv the sample weights),
//        ds/dp_v = ds/dsigma_v / (1 - p_v), applied once per voxel;
//   max: ds/dp_v = w_{i*}v at the first maximum i*,
// into per-chunk buffers (common/sharding.h), together with d loss / dP: the
// sample positions and the step length L move with the camera
// (common/camera.h, RayOuterToProjectionGrad).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "../common/camera.h"
#include "../common/limits.h"
#include "../common/sharding.h"
#include "voxel_silhouette.h"

namespace tf3d {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;
namespace errors = tensorflow::errors;

REGISTER_OP("VoxelSilhouette")
    .Input("occupancy: float")    // [B, X, Y, Z]
    .Input("projection: float")   // [B, 3, 4]
    .Output("silhouette: float")  // [B, h, w]
    .Attr("height: int >= 1")
    .Attr("width: int >= 1")
    .Attr("num_samples: int >= 1")
    .Attr("near: float")
    .Attr("far: float")
    .Attr("perspective: bool = true")
    .Attr("mode: {'drc', 'max'} = 'drc'")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle occupancy, projection;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &occupancy));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &projection));
      int64_t height, width;
      TF_RETURN_IF_ERROR(c->GetAttr("height", &height));
      TF_RETURN_IF_ERROR(c->GetAttr("width", &width));
      c->set_output(0, c->MakeShape({c->Dim(occupancy, 0), height, width}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Silhouettes of occupancy grids, one ray through every pixel centre.

mode "drc" integrates the density sigma_v = -log(1 - p_v) per voxel length,
trilinearly interpolated, between depths near and far with num_samples
midpoint samples: s = 1 - exp(-integral sigma dl), path length in voxels. It
converges as num_samples grows and equals Differentiable Ray Consistency's
1 - prod(1 - p) over the voxels crossed on rays along a grid axis. mode "max"
is the maximum trilinear occupancy over the samples (Perspective Transformer
Nets). tf3d.ops.voxel_silhouette is the Python entry point.

occupancy: [B, X, Y, Z] probabilities in [0, 1]; the grid fills [-0.5, 0.5]^3.
projection: [B, 3, 4] cameras P = [M | p4] with M invertible (ray casting).
silhouette: [B, height, width] values in [0, 1].
height: image rows.
width: image columns.
num_samples: quadrature points per ray, at depths near + (i + 0.5) (far - near) / num_samples.
near: first depth sampled (third homogeneous coordinate), finite.
far: last depth sampled, finite and greater than near.
perspective: whether the cameras divide by depth.
mode: "drc" or "max".
)doc");

REGISTER_OP("VoxelSilhouetteGrad")
    .Input("grad_silhouette: float")   // [B, h, w]
    .Input("occupancy: float")         // [B, X, Y, Z]
    .Input("projection: float")        // [B, 3, 4]
    .Output("grad_occupancy: float")   // [B, X, Y, Z]
    .Output("grad_projection: float")  // [B, 3, 4]
    .Attr("num_samples: int >= 1")
    .Attr("near: float")
    .Attr("far: float")
    .Attr("perspective: bool = true")
    .Attr("mode: {'drc', 'max'} = 'drc'")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of VoxelSilhouette with respect to its occupancy and its cameras.

grad_silhouette: [B, h, w] gradient of the loss with respect to the silhouettes.
occupancy: [B, X, Y, Z] the forward op's occupancy.
projection: [B, 3, 4] the forward op's cameras.
grad_occupancy: [B, X, Y, Z] gradient with respect to occupancy (blocked rays add none).
grad_projection: [B, 3, 4] gradient with respect to projection.
num_samples: as in VoxelSilhouette.
near: as in VoxelSilhouette.
far: as in VoxelSilhouette.
perspective: as in VoxelSilhouette.
mode: as in VoxelSilhouette.
)doc");

namespace {

struct Attrs {
  int num_samples;
  float near, far;
  bool perspective;
  bool max_mode;
};

void ReadAttrs(OpKernelConstruction* context, Attrs* attrs) {
  std::string mode;
  OP_REQUIRES_OK(context, context->GetAttr("num_samples", &attrs->num_samples));
  OP_REQUIRES_OK(context, context->GetAttr("near", &attrs->near));
  OP_REQUIRES_OK(context, context->GetAttr("far", &attrs->far));
  OP_REQUIRES_OK(context, context->GetAttr("perspective", &attrs->perspective));
  OP_REQUIRES_OK(context, context->GetAttr("mode", &mode));
  attrs->max_mode = mode == "max";
  OP_REQUIRES(context, std::isfinite(attrs->near) && std::isfinite(attrs->far) &&
                           attrs->near < attrs->far,
              errors::InvalidArgument("near and far must be finite with near < far, got near=",
                                      attrs->near, " far=", attrs->far));
}

// Checks occupancy [B, X, Y, Z] (probabilities) and projection [B, 3, 4];
// fills cameras. tf3d/ops/voxel_silhouette_reference.py's check_arguments
// makes the same checks before either implementation runs.
void CheckInputs(OpKernelContext* context, const Tensor& occupancy, const Tensor& projection,
                 bool perspective, std::vector<Camera>* cameras) {
  OP_REQUIRES(context, occupancy.dims() == 4,
              errors::InvalidArgument("occupancy must have shape [B, X, Y, Z], got ",
                                      occupancy.shape().DebugString()));
  const int64_t batch = occupancy.dim_size(0);
  OP_REQUIRES(context,
              projection.dims() == 3 && projection.dim_size(0) == batch &&
                  projection.dim_size(1) == 3 && projection.dim_size(2) == 4,
              errors::InvalidArgument("projection must have shape [B, 3, 4] with B = ", batch,
                                      ", got ", projection.shape().DebugString()));
  const float* grid = occupancy.flat<float>().data();
  const int64_t size = occupancy.NumElements();
  for (int64_t i = 0; i < size; ++i) {
    // Written so that NaN fails too.
    OP_REQUIRES(context, grid[i] >= 0.0f && grid[i] <= 1.0f,
                errors::InvalidArgument("occupancy must hold probabilities in [0, 1]; element ",
                                        i, " of ", occupancy.shape().DebugString(), " is ",
                                        grid[i]));
  }
  cameras->resize(batch);
  const float* p = projection.flat<float>().data();
  for (int64_t b = 0; b < batch; ++b) {
    OP_REQUIRES(context, MakeCamera(p + 12 * b, perspective, /*need_inverse=*/true,
                                    &(*cameras)[b]),
                errors::InvalidArgument("projection[", b,
                                        "] must be finite with an invertible left 3x3 block"));
  }
}

int64_t GridDims(const Tensor& occupancy, int64_t dims[3]) {
  for (int a = 0; a < 3; ++a) dims[a] = occupancy.dim_size(1 + a);
  return dims[0] * dims[1] * dims[2];
}

// sigma_v of every voxel (VoxelDensity), computed once per call.
std::vector<double> Densities(OpKernelContext* context, const Tensor& occupancy) {
  const float* grid = occupancy.flat<float>().data();
  std::vector<double> sigma(occupancy.NumElements());
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sigma[i] = VoxelDensity(grid[i]);
  };
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  tensorflow::Shard(workers->num_threads, workers->workers, sigma.size(), 30, work);
  return sigma;
}

// The optical depth of one ray in units of its step: sum_i sigma(X(t_i)).
// Returns false when an opaque voxel (p = 1) gets positive weight.
bool DensitySum(const VoxelRay& ray, const float* grid, const double* sigma,
                const int64_t dims[3], const Attrs& a, double step, double* sum) {
  *sum = 0.0;
  double x[3];
  for (int64_t i = 0; i < a.num_samples; ++i) {
    SamplePoint(ray, a.near, step, i, x);
    Trilinear t;
    TrilinearCorners(x, dims, false, &t);
    for (int c = 0; c < t.count; ++c) {
      if (t.weight[c] > 0.0 && grid[t.index[c]] >= 1.0f) return false;
      *sum += t.weight[c] * sigma[t.index[c]];
    }
  }
  return true;
}

// The first sample with the largest trilinear occupancy, and that occupancy.
int64_t FirstMaximum(const VoxelRay& ray, const float* grid, const int64_t dims[3],
                     const Attrs& a, double step, double* best) {
  int64_t argmax = 0;
  double x[3];
  for (int64_t i = 0; i < a.num_samples; ++i) {
    SamplePoint(ray, a.near, step, i, x);
    Trilinear t;
    TrilinearCorners(x, dims, false, &t);
    const double p = SampleGrid(grid, t);
    if (i == 0 || p > *best) {
      *best = p;
      argmax = i;
    }
  }
  return argmax;
}

class VoxelSilhouetteOp : public OpKernel {
 public:
  explicit VoxelSilhouetteOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("height", &height_));
    OP_REQUIRES_OK(context, context->GetAttr("width", &width_));
    ReadAttrs(context, &attrs_);
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& occupancy = context->input(0);
    const Tensor& projection = context->input(1);
    std::vector<Camera> cameras;
    CheckInputs(context, occupancy, projection, attrs_.perspective, &cameras);
    if (!context->status().ok()) return;
    const int64_t batch = occupancy.dim_size(0);
    TensorShape shape;
    OP_REQUIRES_OK(context, ImageShape(batch, height_, width_, &shape));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, shape, &output));
    int64_t dims[3];
    const int64_t cells = GridDims(occupancy, dims);
    const float* grid = occupancy.flat<float>().data();
    const std::vector<double> sigma =
        attrs_.max_mode ? std::vector<double>() : Densities(context, occupancy);
    float* out = output->flat<float>().data();
    const Attrs a = attrs_;
    const int64_t height = height_, width = width_;
    const double step = (static_cast<double>(a.far) - a.near) / a.num_samples;

    auto rows = [&](int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t b = unit / height, row = unit % height;
        const float* g = grid + b * cells;
        for (int64_t col = 0; col < width; ++col) {
          VoxelRay ray;
          MakeVoxelRay(cameras[b], col + 0.5, row + 0.5, dims, step, &ray);
          double s;
          if (a.max_mode) {
            FirstMaximum(ray, g, dims, a, step, &s);
          } else {
            double sum;
            s = DensitySum(ray, g, sigma.data() + b * cells, dims, a, step, &sum)
                    ? -std::expm1(-ray.step_voxels * sum)
                    : 1.0;
          }
          out[unit * width + col] = static_cast<float>(s);
        }
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    tensorflow::Shard(workers->num_threads, workers->workers, batch * height,
                      ShardCost(batch * height, 60.0 * width * a.num_samples), rows);
  }

 private:
  int64_t height_, width_;
  Attrs attrs_;
};

class VoxelSilhouetteGradOp : public OpKernel {
 public:
  explicit VoxelSilhouetteGradOp(OpKernelConstruction* context) : OpKernel(context) {
    ReadAttrs(context, &attrs_);
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& grad = context->input(0);
    const Tensor& occupancy = context->input(1);
    const Tensor& projection = context->input(2);
    std::vector<Camera> cameras;
    CheckInputs(context, occupancy, projection, attrs_.perspective, &cameras);
    if (!context->status().ok()) return;
    const int64_t batch = occupancy.dim_size(0);
    OP_REQUIRES(context, grad.dims() == 3 && grad.dim_size(0) == batch,
                errors::InvalidArgument("grad_silhouette must have shape [B, h, w] with B = ",
                                        batch, ", got ", grad.shape().DebugString()));
    const int64_t height = grad.dim_size(1), width = grad.dim_size(2);
    TensorShape unused;
    OP_REQUIRES_OK(context, ImageShape(batch, height, width, &unused));
    Tensor* grad_occupancy = nullptr;
    Tensor* grad_projection = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, occupancy.shape(), &grad_occupancy));
    OP_REQUIRES_OK(context, context->allocate_output(1, projection.shape(), &grad_projection));
    int64_t dims[3];
    const int64_t cells = GridDims(occupancy, dims);
    const float* grid = occupancy.flat<float>().data();
    const std::vector<double> sigma =
        attrs_.max_mode ? std::vector<double>() : Densities(context, occupancy);
    const float* g_out = grad.flat<float>().data();
    const Attrs a = attrs_;
    const double step = (static_cast<double>(a.far) - a.near) / a.num_samples;

    // Per example: `cells` gradients (d loss / dsigma in drc mode, d loss / dp
    // in max mode), then the 3x4 outer products for the camera.
    auto ray_row = [&](int64_t unit, const auto& grad_of_example) {
      const int64_t b = unit / height, row = unit % height;
      const float* g = grid + b * cells;
      const double* sig = a.max_mode ? nullptr : sigma.data() + b * cells;
      double* dgrid = grad_of_example(b);
      double* outer = dgrid + cells;
      for (int64_t col = 0; col < width; ++col) {
        const double g_pixel = g_out[unit * width + col];
        if (g_pixel == 0.0) continue;
        VoxelRay ray;
        MakeVoxelRay(cameras[b], col + 0.5, row + 0.5, dims, step, &ray);
        // Per ray: sum_i gx_i and sum_i t_i gx_i, with gx_i = d loss / d X(t_i),
        // so that sum_i gx_i [X_i; 1]^T = G0 [origin; 1]^T + G1 [dir; 0]^T.
        double g0[3] = {0.0, 0.0, 0.0}, g1[3] = {0.0, 0.0, 0.0}, x[3];
        Trilinear t;
        if (a.max_mode) {
          double best;
          const int64_t i = FirstMaximum(ray, g, dims, a, step, &best);
          const double ti = SamplePoint(ray, a.near, step, i, x);
          TrilinearCorners(x, dims, true, &t);
          for (int c = 0; c < t.count; ++c) {
            dgrid[t.index[c]] += g_pixel * t.weight[c];
            for (int k = 0; k < 3; ++k) {
              const double gx = g_pixel * t.dweight[c][k] * g[t.index[c]] * dims[k];
              g0[k] += gx;
              g1[k] += ti * gx;
            }
          }
        } else {
          double sum;
          // Blocked rays have s = 1 around them: no gradient.
          if (!DensitySum(ray, g, sig, dims, a, step, &sum)) continue;
          // s = 1 - exp(-L sum): ds/d(sum) = T L and ds/dL = T sum.
          const double transmittance = std::exp(-ray.step_voxels * sum);
          const double d_sum = g_pixel * transmittance * ray.step_voxels;
          for (int64_t i = 0; i < a.num_samples; ++i) {
            const double ti = SamplePoint(ray, a.near, step, i, x);
            TrilinearCorners(x, dims, true, &t);
            double grad_g[3] = {0.0, 0.0, 0.0};
            for (int c = 0; c < t.count; ++c) {
              dgrid[t.index[c]] += d_sum * t.weight[c];
              for (int k = 0; k < 3; ++k) grad_g[k] += t.dweight[c][k] * sig[t.index[c]];
            }
            for (int k = 0; k < 3; ++k) {
              const double gx = d_sum * grad_g[k] * dims[k];  // dg/dx = R per axis
              g0[k] += gx;
              g1[k] += ti * gx;
            }
          }
          // L = step |D dir|: dL/d dir = step^2 D^2 dir / L.
          const double d_length = g_pixel * transmittance * sum;
          for (int k = 0; k < 3; ++k) {
            const double r = static_cast<double>(dims[k]);
            g1[k] += d_length * step * step * r * r * ray.dir[k] / ray.step_voxels;
          }
        }
        for (int r = 0; r < 3; ++r) {
          for (int j = 0; j < 3; ++j) {
            outer[4 * r + j] += g0[r] * ray.origin[j] + g1[r] * ray.dir[j];
          }
          outer[4 * r + 3] += g0[r];
        }
      }
    };
    std::vector<double> total;
    const int64_t example_size = cells + 12;
    ShardedScatter(context, batch, height, example_size, 120.0 * width * a.num_samples, ray_row,
                   &total);
    float* out = grad_occupancy->flat<float>().data();
    float* out_projection = grad_projection->flat<float>().data();
    for (int64_t b = 0; b < batch; ++b) {
      const double* src = total.data() + b * example_size;
      const float* g = grid + b * cells;
      for (int64_t i = 0; i < cells; ++i) {
        // dsigma/dp = 1 / (1 - p); a voxel that only blocked rays got no
        // gradient, and an opaque one (p = 1) only blocks.
        const double d = a.max_mode || src[i] == 0.0 ? src[i] : src[i] / (1.0 - g[i]);
        out[b * cells + i] = static_cast<float>(d);
      }
      double grad_p[12];
      RayOuterToProjectionGrad(cameras[b], src + cells, grad_p);
      for (int k = 0; k < 12; ++k) out_projection[12 * b + k] = static_cast<float>(grad_p[k]);
    }
  }

 private:
  Attrs attrs_;
};

REGISTER_KERNEL_BUILDER(Name("VoxelSilhouette").Device(tensorflow::DEVICE_CPU), VoxelSilhouetteOp);
REGISTER_KERNEL_BUILDER(Name("VoxelSilhouetteGrad").Device(tensorflow::DEVICE_CPU),
                        VoxelSilhouetteGradOp);

}  // namespace
}  // namespace tf3d

// CPU kernels and registration of VoxelSilhouette and its gradient.
//
// Forward: one ray per pixel, sharded over image rows of all examples on
// TensorFlow's CPU worker pool. Backward: O(S) per ray with prefix/suffix
// products, d s / d p_i = prod_{j<i} (1 - p_j) * prod_{j>i} (1 - p_j), then
// scattered to the 8 cells each sample read (common/sharding.h).
#include <algorithm>
#include <string>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "../common/camera.h"
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
    });

REGISTER_OP("VoxelSilhouetteGrad")
    .Input("grad_silhouette: float")  // [B, h, w]
    .Input("occupancy: float")        // [B, X, Y, Z]
    .Input("projection: float")       // [B, 3, 4]
    .Output("grad_occupancy: float")  // [B, X, Y, Z]
    .Attr("num_samples: int >= 1")
    .Attr("near: float")
    .Attr("far: float")
    .Attr("perspective: bool = true")
    .Attr("mode: {'drc', 'max'} = 'drc'")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      return absl::OkStatus();
    });

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

// Checks occupancy [B, X, Y, Z] and projection [B, 3, 4]; fills cameras.
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
  cameras->resize(batch);
  const float* p = projection.flat<float>().data();
  for (int64_t b = 0; b < batch; ++b) {
    OP_REQUIRES(context, MakeCamera(p + 12 * b, perspective, &(*cameras)[b]),
                errors::InvalidArgument("projection[", b,
                                        "] must be finite with an invertible left 3x3 block"));
  }
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
    const int64_t dims[3] = {occupancy.dim_size(1), occupancy.dim_size(2), occupancy.dim_size(3)};
    const int64_t cells = dims[0] * dims[1] * dims[2];
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(
                                0, TensorShape({batch, height_, width_}), &output));
    const float* grid = occupancy.flat<float>().data();
    float* out = output->flat<float>().data();
    const Attrs a = attrs_;
    const int64_t height = height_, width = width_;
    const double step = (static_cast<double>(a.far) - a.near) / a.num_samples;

    auto rows = [&](int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t b = unit / height, row = unit % height;
        const float* g = grid + b * cells;
        for (int64_t col = 0; col < width; ++col) {
          double origin[3], dir[3], x[3];
          PixelRay(cameras[b], col + 0.5, row + 0.5, origin, dir);
          double escape = 1.0, best = 0.0;
          for (int i = 0; i < a.num_samples; ++i) {
            SamplePoint(origin, dir, a.near, step, i, x);
            Trilinear t;
            TrilinearCorners(x, dims, &t);
            const double p = SampleGrid(g, t);
            if (a.max_mode) {
              if (i == 0 || p > best) best = p;
            } else {
              escape *= 1.0 - p;
            }
          }
          out[unit * width + col] = static_cast<float>(a.max_mode ? best : 1.0 - escape);
        }
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    tensorflow::Shard(workers->num_threads, workers->workers, batch * height,
                      width * a.num_samples * 60, rows);
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
    const int64_t dims[3] = {occupancy.dim_size(1), occupancy.dim_size(2), occupancy.dim_size(3)};
    const int64_t cells = dims[0] * dims[1] * dims[2];
    const float* grid = occupancy.flat<float>().data();
    const float* g_out = grad.flat<float>().data();
    const Attrs a = attrs_;
    const double step = (static_cast<double>(a.far) - a.near) / a.num_samples;

    auto ray_row = [&](int64_t unit, const auto& grad_of_example) {
      const int64_t b = unit / height, row = unit % height;
      const float* g = grid + b * cells;
      double* dgrid = grad_of_example(b);
      std::vector<Trilinear> samples(a.num_samples);
      std::vector<double> p(a.num_samples), suffix(a.num_samples + 1);
      for (int64_t col = 0; col < width; ++col) {
        const double g_pixel = g_out[unit * width + col];
        if (g_pixel == 0.0) continue;
        double origin[3], dir[3], x[3];
        PixelRay(cameras[b], col + 0.5, row + 0.5, origin, dir);
        int argmax = 0;
        for (int i = 0; i < a.num_samples; ++i) {
          SamplePoint(origin, dir, a.near, step, i, x);
          TrilinearCorners(x, dims, &samples[i]);
          p[i] = SampleGrid(g, samples[i]);
          if (p[i] > p[argmax]) argmax = i;
        }
        if (a.max_mode) {
          const Trilinear& t = samples[argmax];
          for (int c = 0; c < t.count; ++c) dgrid[t.index[c]] += g_pixel * t.weight[c];
          continue;
        }
        suffix[a.num_samples] = 1.0;
        for (int i = a.num_samples - 1; i >= 0; --i) suffix[i] = suffix[i + 1] * (1.0 - p[i]);
        double prefix = 1.0;
        for (int i = 0; i < a.num_samples; ++i) {
          const double dp = g_pixel * prefix * suffix[i + 1];
          const Trilinear& t = samples[i];
          for (int c = 0; c < t.count; ++c) dgrid[t.index[c]] += dp * t.weight[c];
          prefix *= 1.0 - p[i];
        }
      }
    };
    std::vector<double> total;
    ShardedScatter(context, batch, height, cells, width * a.num_samples * 120, ray_row, &total);
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, occupancy.shape(), &output));
    float* out = output->flat<float>().data();
    for (size_t i = 0; i < total.size(); ++i) out[i] = static_cast<float>(total[i]);
  }

 private:
  Attrs attrs_;
};

REGISTER_KERNEL_BUILDER(Name("VoxelSilhouette").Device(tensorflow::DEVICE_CPU), VoxelSilhouetteOp);
REGISTER_KERNEL_BUILDER(Name("VoxelSilhouetteGrad").Device(tensorflow::DEVICE_CPU),
                        VoxelSilhouetteGradOp);

}  // namespace
}  // namespace tf3d

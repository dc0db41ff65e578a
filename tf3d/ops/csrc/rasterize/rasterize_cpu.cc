// CPU kernel and registration of Rasterize: a tile-binned hard z-buffer.
//
// Every face's pixel bounding box is binned into kTile x kTile tiles, and a
// pixel only tests its tile's faces, so the cost follows the faces near each
// pixel. (example, tile) units are sharded over TensorFlow's CPU worker pool;
// each pixel is written by exactly one unit, so results do not depend on the
// number of threads. Outputs are allocated before the per-tile lists
// (common/limits.h). The op has no gradient: which face a pixel sees is a
// discrete choice, and tf3d/ops/rasterize.py recomputes the barycentrics and
// depth of the chosen faces in TensorFlow for gradients (nvdiffrast's split).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "../common/camera.h"
#include "../common/limits.h"
#include "../common/mesh_inputs.h"
#include "rasterize.h"

namespace tf3d {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

REGISTER_OP("Rasterize")
    .Input("vertices: float")       // [B, V, 3]
    .Input("faces: int32")          // [F, 3]
    .Input("projection: float")     // [B, 3, 4]
    .Output("face_ids: int32")      // [B, h, w]
    .Output("barycentrics: float")  // [B, h, w, 3]
    .Output("depth: float")         // [B, h, w]
    .Attr("height: int >= 1")
    .Attr("width: int >= 1")
    .Attr("perspective: bool = true")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle vertices, faces, projection;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &vertices));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &faces));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 3, &projection));
      int64_t height, width;
      TF_RETURN_IF_ERROR(c->GetAttr("height", &height));
      TF_RETURN_IF_ERROR(c->GetAttr("width", &width));
      c->set_output(0, c->MakeShape({c->Dim(vertices, 0), height, width}));
      c->set_output(1, c->MakeShape({c->Dim(vertices, 0), height, width, 3}));
      c->set_output(2, c->MakeShape({c->Dim(vertices, 0), height, width}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Hard z-buffer rasterization of triangle meshes at pixel centres.

Pixel (row, col) samples the image point (col + 0.5, row + 0.5). A pixel
sees the nearest face whose projected triangle contains it (edges included,
either winding; equal depths go to the lower face id); in perspective, faces
with a vertex at depth <= 1e-6 are dropped, and degenerate faces always are.
Geometry runs in double. The op has no gradient; tf3d.ops.rasterize is the
Python entry point and makes barycentrics and depth differentiable.

vertices: [B, V, 3] world positions, finite.
faces: [F, 3] vertex indices in [0, V), shared by the batch.
projection: [B, 3, 4] finite cameras (the left 3x3 block may be singular).
face_ids: [B, height, width] index of the face each pixel sees, -1 where none.
barycentrics: [B, height, width, 3] perspective-correct barycentric weights of
  the face's corners (0 where no face).
depth: [B, height, width] depth of the visible surface along the optical axis
  (0 where no face).
height: image rows.
width: image columns.
perspective: whether the cameras divide by depth.
)doc");

namespace {

constexpr int kTile = 8;

class RasterizeOp : public OpKernel {
 public:
  explicit RasterizeOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("height", &height_));
    OP_REQUIRES_OK(context, context->GetAttr("width", &width_));
    OP_REQUIRES_OK(context, context->GetAttr("perspective", &perspective_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& vertices = context->input(0);
    const Tensor& faces = context->input(1);
    std::vector<Camera> cameras;
    if (!CheckMeshInputs(context, vertices, faces, context->input(2), perspective_, &cameras)) {
      return;
    }
    const int64_t batch = vertices.dim_size(0);
    TensorShape shape;
    OP_REQUIRES_OK(context, ImageShape(batch, height_, width_, &shape));
    TensorShape bary_shape = shape;
    bary_shape.AddDim(3);  // 3 * kMaxPixels fits int64 easily
    Tensor *face_ids = nullptr, *barycentrics = nullptr, *depth = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, shape, &face_ids));
    OP_REQUIRES_OK(context, context->allocate_output(1, bary_shape, &barycentrics));
    OP_REQUIRES_OK(context, context->allocate_output(2, shape, &depth));

    const int64_t tiles_x = (width_ + kTile - 1) / kTile, tiles_y = (height_ + kTile - 1) / kTile;
    const int64_t tiles = tiles_x * tiles_y;
    std::vector<std::vector<RasterFace>> kept(batch);
    std::vector<std::vector<int32_t>> tile_faces(batch * tiles);  // slots into kept[b], ascending
    BinFaces(context, vertices, faces, cameras, tiles_x, tiles, &kept, &tile_faces);

    int32_t* out_ids = face_ids->flat<int32_t>().data();
    float* out_bary = barycentrics->flat<float>().data();
    float* out_depth = depth->flat<float>().data();
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t b = unit / tiles, tile = unit % tiles;
        const int64_t ty = tile / tiles_x, tx = tile % tiles_x;
        const std::vector<RasterFace>& faces_b = kept[b];
        const std::vector<int32_t>& slots = tile_faces[unit];
        for (int64_t row = ty * kTile; row < std::min(height_, (ty + 1) * kTile); ++row) {
          for (int64_t col = tx * kTile; col < std::min(width_, (tx + 1) * kTile); ++col) {
            const double px = col + 0.5, py = row + 0.5;
            int32_t best = -1;
            double best_depth = INFINITY, best_bary[3] = {0.0, 0.0, 0.0};
            for (const int32_t slot : slots) {
              const RasterFace& f = faces_b[slot];
              if (px < f.xmin || px > f.xmax || py < f.ymin || py > f.ymax) continue;
              double bary[3], z;
              // Strictly nearer: slots ascend with the face id, so ties keep the lower id.
              if (!RasterizePixel(f, px, py, perspective_, bary, &z) || !(z < best_depth)) continue;
              best = f.id;
              best_depth = z;
              std::copy(bary, bary + 3, best_bary);
            }
            const int64_t pixel = (b * height_ + row) * width_ + col;
            out_ids[pixel] = best;
            out_depth[pixel] = best < 0 ? 0.0f : static_cast<float>(best_depth);
            for (int k = 0; k < 3; ++k) out_bary[3 * pixel + k] = static_cast<float>(best_bary[k]);
          }
        }
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    const int64_t units = batch * tiles;
    tensorflow::Shard(workers->num_threads, workers->workers, units,
                      ShardCost(units, kTile * kTile * 100.0), work);
  }

 private:
  // Projects every example's faces, keeps the visible non-degenerate ones
  // that cover a pixel centre, and lists them per tile their bounding box meets.
  void BinFaces(OpKernelContext* context, const Tensor& vertices, const Tensor& faces,
                const std::vector<Camera>& cameras, int64_t tiles_x, int64_t tiles,
                std::vector<std::vector<RasterFace>>* kept,
                std::vector<std::vector<int32_t>>* tile_faces) const {
    const int64_t batch = vertices.dim_size(0), num_vertices = vertices.dim_size(1);
    const int64_t num_faces = faces.dim_size(0);
    const int32_t* face_data = faces.flat<int32_t>().data();
    const float* v = vertices.flat<float>().data();
    auto bin = [&](int64_t begin, int64_t end) {
      std::vector<double> px(num_vertices), py(num_vertices), pz(num_vertices);
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t i = 0; i < num_vertices; ++i) {
          const float* vi = v + (b * num_vertices + i) * 3;
          const double x[3] = {vi[0], vi[1], vi[2]};
          Project(cameras[b], x, &px[i], &py[i], &pz[i], nullptr);
        }
        for (int64_t f = 0; f < num_faces; ++f) {
          RasterFace g;
          g.id = static_cast<int32_t>(f);
          bool visible = true;
          for (int k = 0; k < 3; ++k) {
            const int32_t vi = face_data[3 * f + k];
            g.vertex[k] = vi;
            g.x[k] = px[vi];
            g.y[k] = py[vi];
            g.z[k] = pz[vi];
            if (perspective_ && !(pz[vi] > kRasterMinDepth)) visible = false;
          }
          g.area = (g.x[1] - g.x[0]) * (g.y[2] - g.y[0]) - (g.y[1] - g.y[0]) * (g.x[2] - g.x[0]);
          // Degenerate faces cover no pixel (and would divide by zero); the reference drops them too.
          if (!visible || !(g.area != 0.0) || !std::isfinite(g.area)) continue;
          g.xmin = std::min({g.x[0], g.x[1], g.x[2]});
          g.xmax = std::max({g.x[0], g.x[1], g.x[2]});
          g.ymin = std::min({g.y[0], g.y[1], g.y[2]});
          g.ymax = std::max({g.y[0], g.y[1], g.y[2]});
          // Pixel centres col + 0.5 inside [xmin, xmax], clamped to the image
          // before the cast (a face near the camera plane projects to huge values).
          const int64_t c0 = ClampToInt64(std::ceil(g.xmin - 0.5), 0, width_);
          const int64_t c1 = ClampToInt64(std::floor(g.xmax - 0.5), -1, width_ - 1);
          const int64_t r0 = ClampToInt64(std::ceil(g.ymin - 0.5), 0, height_);
          const int64_t r1 = ClampToInt64(std::floor(g.ymax - 0.5), -1, height_ - 1);
          if (c0 > c1 || r0 > r1) continue;
          const int32_t slot = static_cast<int32_t>((*kept)[b].size());
          (*kept)[b].push_back(g);
          for (int64_t ty = r0 / kTile; ty <= r1 / kTile; ++ty) {
            for (int64_t tx = c0 / kTile; tx <= c1 / kTile; ++tx) {
              (*tile_faces)[b * tiles + ty * tiles_x + tx].push_back(slot);
            }
          }
        }
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    tensorflow::Shard(workers->num_threads, workers->workers, batch,
                      ShardCost(batch, 200.0 * num_faces + 20.0 * num_vertices + 1.0), bin);
  }

  int64_t height_, width_;
  bool perspective_;
};

REGISTER_KERNEL_BUILDER(Name("Rasterize").Device(tensorflow::DEVICE_CPU), RasterizeOp);

}  // namespace
}  // namespace tf3d

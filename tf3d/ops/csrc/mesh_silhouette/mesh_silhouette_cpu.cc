// CPU kernels and registration of MeshSilhouette and its gradient.
//
// Cost scales with the faces near each pixel, not all faces: every face's
// bounding box, grown by the cutoff radius (mesh_silhouette.h), is binned
// into kTile x kTile pixel tiles, and within a tile each face evaluates only
// the pixels inside its box, a row at a time in one vectorized loop
// (EvaluateRow). The gradient kernel recomputes the forward pass's pairs
// rather than keeping them between the ops (they would take B * h * w * ~25
// entries); it keeps one tile's pairs while it differentiates them.
// Forward and backward shard (example, tile) units over TensorFlow's CPU
// worker pool; the backward pass accumulates d loss / d (u, v) per vertex in
// per-chunk buffers (common/sharding.h) and applies the projection's
// Jacobians once per vertex at the end: d(u, v)/d vertex for the vertices'
// gradient and d(u, v)/dP for the cameras'. Outputs are allocated before
// anything sized by the image (common/limits.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "../common/camera.h"
#include "../common/limits.h"
#include "../common/mesh_inputs.h"
#include "../common/sharding.h"
#include "mesh_silhouette.h"

namespace tf3d {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;
namespace errors = tensorflow::errors;

REGISTER_OP("MeshSilhouette")
    .Input("vertices: float")     // [B, V, 3]
    .Input("faces: int32")        // [F, 3]
    .Input("projection: float")   // [B, 3, 4]
    .Output("silhouette: float")  // [B, h, w]
    .Attr("height: int >= 1")
    .Attr("width: int >= 1")
    .Attr("sigma: float")
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
      return absl::OkStatus();
    })
    .Doc(R"doc(
Soft silhouettes of triangle meshes (SoftRas, Liu et al. 2019).

Each face j within the cutoff contributes D_j = sigmoid(delta_j d_j^2 / sigma),
d_j the distance from the pixel centre to the projected triangle in
normalized units (the longer image side spans 2) and delta_j = +1 inside,
-1 outside; the pixel's value is 1 - prod_j (1 - D_j). Faces whose D would
be below 1e-5 are skipped; in perspective, faces with a vertex at depth
<= 1e-6 are dropped. tf3d.ops.mesh_silhouette is the Python entry point.

vertices: [B, V, 3] world positions, finite.
faces: [F, 3] vertex indices in [0, V), shared by the batch.
projection: [B, 3, 4] finite cameras (the left 3x3 block may be singular).
silhouette: [B, height, width] values in [0, 1].
height: image rows.
width: image columns.
sigma: sharpness in normalized image units squared, positive.
perspective: whether the cameras divide by depth.
)doc");

REGISTER_OP("MeshSilhouetteGrad")
    .Input("grad_silhouette: float")  // [B, h, w]
    .Input("vertices: float")         // [B, V, 3]
    .Input("faces: int32")            // [F, 3]
    .Input("projection: float")       // [B, 3, 4]
    .Output("grad_vertices: float")   // [B, V, 3]
    .Output("grad_projection: float")  // [B, 3, 4]
    .Attr("sigma: float")
    .Attr("perspective: bool = true")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(3));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of MeshSilhouette with respect to its vertices and its cameras.

grad_silhouette: [B, h, w] gradient of the loss with respect to the silhouettes.
vertices: [B, V, 3] the forward op's vertices.
faces: [F, 3] the forward op's faces.
projection: [B, 3, 4] the forward op's cameras.
grad_vertices: [B, V, 3] gradient with respect to vertices.
grad_projection: [B, 3, 4] gradient with respect to projection.
sigma: as in MeshSilhouette.
perspective: as in MeshSilhouette.
)doc");

namespace {

constexpr int kTile = 8;
static_assert(kTile <= kMaxRow, "EvaluateRow takes a tile's row at once");

// Projected faces of every example and, per (example, tile), the faces whose
// grown bounding box touches a pixel centre of the tile.
struct Scene {
  int64_t batch, height, width, tiles_x, tiles_y;
  double scale2;      // (2 / max(h, w))^2: pixels^2 -> normalized units^2
  double sigma;
  std::vector<Camera> cameras;
  std::vector<std::vector<FaceGeom>> faces;         // [B][kept faces]
  std::vector<std::vector<int32_t>> tile_faces;     // [B * tiles][face slots]

  int64_t tiles() const { return tiles_x * tiles_y; }
};

// Validates the inputs (common/mesh_inputs.h, plus sigma) and fills the
// cameras; allocates nothing sized by the image. Returns false (with the
// context's status set) on bad input. tf3d/ops/_mesh_checks.py makes the same
// checks before either implementation runs.
bool CheckInputs(OpKernelContext* context, const Tensor& vertices, const Tensor& faces,
                 const Tensor& projection, float sigma, bool perspective,
                 std::vector<Camera>* cameras) {
  if (!(std::isfinite(sigma) && sigma > 0.0f)) {
    context->CtxFailure(errors::InvalidArgument("sigma must be positive and finite, got ", sigma));
    return false;
  }
  return CheckMeshInputs(context, vertices, faces, projection, perspective, cameras);
}

// Projects and bins the faces of checked inputs into `scene` (per-tile lists
// sized by the image: call it after allocating the outputs).
void BinFaces(OpKernelContext* context, const Tensor& vertices, const Tensor& faces,
              int64_t height, int64_t width, float sigma, bool perspective,
              std::vector<Camera> cameras, Scene* scene) {
  const int64_t batch = vertices.dim_size(0), num_vertices = vertices.dim_size(1);
  const int64_t num_faces = faces.dim_size(0);
  const int32_t* face_data = faces.flat<int32_t>().data();
  const float* v = vertices.flat<float>().data();
  scene->batch = batch;
  scene->height = height;
  scene->width = width;
  scene->tiles_x = (width + kTile - 1) / kTile;
  scene->tiles_y = (height + kTile - 1) / kTile;
  const double s = 2.0 / static_cast<double>(std::max(height, width));
  scene->scale2 = s * s;
  scene->sigma = sigma;
  scene->cameras = std::move(cameras);
  scene->faces.assign(batch, {});
  scene->tile_faces.assign(batch * scene->tiles(), {});
  // Beyond this distance (pixels) from a face, D < kMinContribution.
  const double radius = std::sqrt(kCutoff * scene->sigma / scene->scale2);

  auto bin = [&](int64_t begin, int64_t end) {
    std::vector<double> px(num_vertices), py(num_vertices), depth(num_vertices);
    for (int64_t b = begin; b < end; ++b) {
      const Camera& cam = scene->cameras[b];
      for (int64_t i = 0; i < num_vertices; ++i) {
        const float* vi = v + (b * num_vertices + i) * 3;
        const double x[3] = {vi[0], vi[1], vi[2]};
        Project(cam, x, &px[i], &py[i], &depth[i], nullptr);
      }
      std::vector<FaceGeom>& kept = scene->faces[b];
      for (int64_t f = 0; f < num_faces; ++f) {
        FaceGeom g;
        bool visible = true;
        for (int k = 0; k < 3; ++k) {
          const int64_t vi = face_data[3 * f + k];
          g.vertex[k] = vi;
          g.x[k] = px[vi];
          g.y[k] = py[vi];
          if (perspective && !(depth[vi] > kMinDepth)) visible = false;
        }
        // Degenerate (zero-area) faces have no inside; the reference drops them too.
        const double area2 = (g.x[1] - g.x[0]) * (g.y[2] - g.y[0]) - (g.y[1] - g.y[0]) * (g.x[2] - g.x[0]);
        if (!visible || !(area2 != 0.0)) continue;
        // Pixel centres col + 0.5 inside the bounding box grown by the
        // cutoff radius, clamped to the image before the cast (a face far
        // off-screen projects to huge values).
        g.col0 = ClampToInt64(std::ceil(std::min({g.x[0], g.x[1], g.x[2]}) - radius - 0.5), 0, width);
        g.col1 = ClampToInt64(std::floor(std::max({g.x[0], g.x[1], g.x[2]}) + radius - 0.5), -1,
                              width - 1);
        g.row0 = ClampToInt64(std::ceil(std::min({g.y[0], g.y[1], g.y[2]}) - radius - 0.5), 0, height);
        g.row1 = ClampToInt64(std::floor(std::max({g.y[0], g.y[1], g.y[2]}) + radius - 0.5), -1,
                              height - 1);
        const int64_t c0 = g.col0, c1 = g.col1, r0 = g.row0, r1 = g.row1;
        if (c0 > c1 || r0 > r1) continue;
        PrepareFace(&g);
        const int32_t slot = static_cast<int32_t>(kept.size());
        kept.push_back(g);
        for (int64_t ty = r0 / kTile; ty <= r1 / kTile; ++ty) {
          for (int64_t tx = c0 / kTile; tx <= c1 / kTile; ++tx) {
            scene->tile_faces[b * scene->tiles() + ty * scene->tiles_x + tx].push_back(slot);
          }
        }
      }
    }
  };
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  tensorflow::Shard(workers->num_threads, workers->workers, batch,
                    ShardCost(batch, 200.0 * num_faces + 20.0 * num_vertices + 1.0), bin);
}

// Calls visit(local, pixel, q, row, i, slot) for every (face, pixel) pair
// within the cutoff in one (example, tile) unit: face by face in the tile's
// slot order, each over the pixels of its grown bounding box that lie in the
// tile (`local` = row * kTile + col within the tile, `pixel` the output
// index, `row.*[i]` the pixel's geometry; its nearest-point arrays are
// filled if kNearest). Face-major order skips the pixels outside each face's
// box without testing them, and every pixel still meets its faces in slot
// order, so the products below do not depend on the threads.
template <bool kNearest, typename Visit>
void ForEachFacePixel(const Scene& scene, int64_t unit, const Visit& visit) {
  const int64_t b = unit / scene.tiles(), tile = unit % scene.tiles();
  const int64_t tile_row = tile / scene.tiles_x * kTile, tile_col = tile % scene.tiles_x * kTile;
  const int64_t last_row = std::min(scene.height, tile_row + kTile) - 1;
  const int64_t last_col = std::min(scene.width, tile_col + kTile) - 1;
  const std::vector<FaceGeom>& faces = scene.faces[b];
  const double to_x = scene.scale2 / scene.sigma;
  const double cutoff_px2 = kCutoff / to_x;
  RowFace geometry;
  for (const int32_t slot : scene.tile_faces[unit]) {
    const FaceGeom& f = faces[slot];
    const int64_t r1 = std::min(f.row1, last_row);
    const int64_t c0 = std::max(f.col0, tile_col), c1 = std::min(f.col1, last_col);
    const int n = static_cast<int>(c1 - c0 + 1);
    for (int64_t row = std::max(f.row0, tile_row); row <= r1; ++row) {
      EvaluateRow<kNearest>(f, c0 + 0.5, row + 0.5, n, &geometry);
      const int64_t local = (row - tile_row) * kTile + (c0 - tile_col);
      const int64_t pixel = (b * scene.height + row) * scene.width + c0;
      for (int i = 0; i < n; ++i) {
        const bool inside = geometry.inside[i] != 0.0;
        if (!inside && geometry.d2[i] >= cutoff_px2) continue;
        visit(local + i, pixel + i, Escape(inside, geometry.d2[i] * to_x), geometry, i, slot);
      }
    }
  }
}

// Calls fn(pixel, local) for the pixels of one (example, tile) unit.
template <typename Fn>
void ForEachTilePixel(const Scene& scene, int64_t unit, const Fn& fn) {
  const int64_t b = unit / scene.tiles(), tile = unit % scene.tiles();
  const int64_t tile_row = tile / scene.tiles_x * kTile, tile_col = tile % scene.tiles_x * kTile;
  for (int64_t row = tile_row; row < std::min(scene.height, tile_row + kTile); ++row) {
    for (int64_t col = tile_col; col < std::min(scene.width, tile_col + kTile); ++col) {
      fn((b * scene.height + row) * scene.width + col, (row - tile_row) * kTile + (col - tile_col));
    }
  }
}

class MeshSilhouetteOp : public OpKernel {
 public:
  explicit MeshSilhouetteOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("height", &height_));
    OP_REQUIRES_OK(context, context->GetAttr("width", &width_));
    OP_REQUIRES_OK(context, context->GetAttr("sigma", &sigma_));
    OP_REQUIRES_OK(context, context->GetAttr("perspective", &perspective_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& vertices = context->input(0);
    const Tensor& faces = context->input(1);
    std::vector<Camera> cameras;
    if (!CheckInputs(context, vertices, faces, context->input(2), sigma_, perspective_,
                     &cameras)) {
      return;
    }
    TensorShape shape;
    OP_REQUIRES_OK(context, ImageShape(vertices.dim_size(0), height_, width_, &shape));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, shape, &output));
    Scene scene;
    BinFaces(context, vertices, faces, height_, width_, sigma_, perspective_, std::move(cameras),
             &scene);
    float* out = output->flat<float>().data();
    auto tiles = [&](int64_t begin, int64_t end) {
      double escape[kTile * kTile];  // prod_j q_j of the tile's pixels
      for (int64_t unit = begin; unit < end; ++unit) {
        std::fill(escape, escape + kTile * kTile, 1.0);
        ForEachFacePixel</*kNearest=*/false>(
            scene, unit, [&](int64_t local, int64_t, double q, const RowFace&, int, int32_t) {
              escape[local] *= q;
            });
        ForEachTilePixel(scene, unit, [&](int64_t pixel, int64_t local) {
          out[pixel] = static_cast<float>(1.0 - escape[local]);
        });
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    const int64_t units = scene.batch * scene.tiles();
    tensorflow::Shard(workers->num_threads, workers->workers, units,
                      ShardCost(units, kTile * kTile * 400.0), tiles);
  }

 private:
  int64_t height_, width_;
  float sigma_;
  bool perspective_;
};

class MeshSilhouetteGradOp : public OpKernel {
 public:
  explicit MeshSilhouetteGradOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("sigma", &sigma_));
    OP_REQUIRES_OK(context, context->GetAttr("perspective", &perspective_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& grad = context->input(0);
    const Tensor& vertices = context->input(1);
    const Tensor& faces = context->input(2);
    const Tensor& projection = context->input(3);
    std::vector<Camera> cameras;
    if (!CheckInputs(context, vertices, faces, projection, sigma_, perspective_, &cameras)) {
      return;
    }
    const int64_t batch = vertices.dim_size(0), num_vertices = vertices.dim_size(1);
    OP_REQUIRES(context, grad.dims() == 3 && grad.dim_size(0) == batch,
                errors::InvalidArgument("grad_silhouette must have shape [B, h, w] with B = ",
                                        batch, ", got ", grad.shape().DebugString()));
    TensorShape unused;
    OP_REQUIRES_OK(context, ImageShape(batch, grad.dim_size(1), grad.dim_size(2), &unused));
    Tensor* grad_vertices = nullptr;
    Tensor* grad_projection = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, vertices.shape(), &grad_vertices));
    OP_REQUIRES_OK(context, context->allocate_output(1, projection.shape(), &grad_projection));
    Scene scene;
    BinFaces(context, vertices, faces, grad.dim_size(1), grad.dim_size(2), sigma_, perspective_,
             std::move(cameras), &scene);
    const float* g_out = grad.flat<float>().data();
    const double to_x = scene.scale2 / scene.sigma;

    // Per pixel, the escape product over faces with q > 0 and the count of
    // q == 0 give prod_{k != j} q_k without dividing by zero. A first pass
    // over the tile's (face, pixel) pairs forms them and keeps the pairs; a
    // second turns each pair into d loss / d(u, v) of its nearest edge's
    // corners, summed per face before it is scattered to the vertices.
    struct Hit {
      double q, rx, ry, t;
      int64_t pixel;
      int32_t local, slot;
      int edge;
      bool inside;
    };
    auto tile = [&](int64_t unit, const auto& grad_of_example) {
      const int64_t b = unit / scene.tiles();
      double* duv = grad_of_example(b);  // [V, 2]: d loss / d (u, v)
      double nonzero[kTile * kTile];
      int zeros[kTile * kTile];
      std::fill(nonzero, nonzero + kTile * kTile, 1.0);
      std::fill(zeros, zeros + kTile * kTile, 0);
      std::vector<Hit> hits;  // one allocation per tile: noise next to the tile's pairs
      hits.reserve(kTile * kTile * 32);
      ForEachFacePixel</*kNearest=*/true>(
          scene, unit,
          [&](int64_t local, int64_t pixel, double q, const RowFace& row, int i, int32_t slot) {
            if (g_out[pixel] == 0.0f) return;
            if (q == 0.0) ++zeros[local]; else nonzero[local] *= q;
            hits.push_back({q, row.rx[i], row.ry[i], row.t[i], pixel, static_cast<int32_t>(local),
                            slot, static_cast<int>(row.edge[i]), row.inside[i] != 0.0});
          });
      const FaceGeom* faces = scene.faces[b].data();
      double corner[3][2] = {{0.0}};  // d loss / d(u, v) of the current face's corners
      auto flush = [&](int32_t slot) {
        for (int k = 0; k < 3; ++k) {
          const int64_t vertex = faces[slot].vertex[k];
          duv[2 * vertex] += corner[k][0];
          duv[2 * vertex + 1] += corner[k][1];
          corner[k][0] = corner[k][1] = 0.0;
        }
      };
      for (size_t i = 0; i < hits.size(); ++i) {
        const Hit& h = hits[i];
        const int z = zeros[h.local];
        double others;
        if (h.q != 0.0) others = z == 0 ? nonzero[h.local] / h.q : 0.0;
        else others = z == 1 ? nonzero[h.local] : 0.0;
        // s = 1 - prod q: ds/dq_j = -others; q = sigmoid(-/+ x).
        const double dq_dx = (h.inside ? -1.0 : 1.0) * h.q * (1.0 - h.q);
        const double dd2 = -static_cast<double>(g_out[h.pixel]) * others * dq_dx * to_x;
        if (dd2 != 0.0) {
          // d(d2)/d(corner a) = -2 (p - c)(1 - t), d(d2)/d(corner b) = -2 (p - c) t
          // (the envelope theorem: t minimizes the distance).
          const double rx = -2.0 * h.rx * dd2, ry = -2.0 * h.ry * dd2;
          const int a = h.edge, c = (h.edge + 1) % 3;
          corner[a][0] += rx * (1.0 - h.t);
          corner[a][1] += ry * (1.0 - h.t);
          corner[c][0] += rx * h.t;
          corner[c][1] += ry * h.t;
        }
        if (i + 1 == hits.size() || hits[i + 1].slot != h.slot) flush(h.slot);
      }
    };
    std::vector<double> duv;
    ShardedScatter(context, scene.batch, scene.tiles(), num_vertices * 2, kTile * kTile * 800.0,
                   tile, &duv);
    float* out = grad_vertices->flat<float>().data();
    float* out_projection = grad_projection->flat<float>().data();
    const float* v = vertices.flat<float>().data();
    for (int64_t b = 0; b < scene.batch; ++b) {
      double grad_p[12] = {0.0};
      for (int64_t i = 0; i < num_vertices; ++i) {
        const int64_t at = b * num_vertices + i;
        const double gu = duv[2 * at], gv = duv[2 * at + 1];
        // Vertices no pixel saw (possibly at depth 0) get an exact zero,
        // never 0 * inf from their Jacobian.
        if (gu == 0.0 && gv == 0.0) {
          for (int k = 0; k < 3; ++k) out[3 * at + k] = 0.0f;
          continue;
        }
        const double x[3] = {v[3 * at], v[3 * at + 1], v[3 * at + 2]};
        double u, w, depth, jac[6];
        Project(scene.cameras[b], x, &u, &w, &depth, jac);
        for (int k = 0; k < 3; ++k) out[3 * at + k] = static_cast<float>(gu * jac[k] + gv * jac[3 + k]);
        AccumulateProjectionGrad(scene.cameras[b], x, u, w, depth, gu, gv, grad_p);
      }
      for (int k = 0; k < 12; ++k) out_projection[12 * b + k] = static_cast<float>(grad_p[k]);
    }
  }

 private:
  float sigma_;
  bool perspective_;
};

REGISTER_KERNEL_BUILDER(Name("MeshSilhouette").Device(tensorflow::DEVICE_CPU), MeshSilhouetteOp);
REGISTER_KERNEL_BUILDER(Name("MeshSilhouetteGrad").Device(tensorflow::DEVICE_CPU),
                        MeshSilhouetteGradOp);

}  // namespace
}  // namespace tf3d

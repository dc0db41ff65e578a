// CPU kernels and registration of MeshSilhouette and its gradient.
//
// Cost scales with the faces near each pixel, not all faces: every face's
// bounding box, grown by the cutoff radius (mesh_silhouette.h), is binned
// into kTile x kTile pixel tiles, and a pixel only visits its tile's faces.
// Forward and backward shard (example, tile) units over TensorFlow's CPU
// worker pool; the backward pass accumulates d loss / d (u, v) per vertex in
// per-chunk buffers (common/sharding.h) and applies the projection's
// Jacobian once per vertex at the end.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "../common/camera.h"
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
    });

REGISTER_OP("MeshSilhouetteGrad")
    .Input("grad_silhouette: float")  // [B, h, w]
    .Input("vertices: float")         // [B, V, 3]
    .Input("faces: int32")            // [F, 3]
    .Input("projection: float")       // [B, 3, 4]
    .Output("grad_vertices: float")   // [B, V, 3]
    .Attr("sigma: float")
    .Attr("perspective: bool = true")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      return absl::OkStatus();
    });

namespace {

constexpr int kTile = 8;

// Projected faces of every example and, per (example, tile), the faces whose
// grown bounding box touches a pixel centre of the tile.
struct Scene {
  int64_t batch, height, width, tiles_x, tiles_y;
  double scale2;      // (2 / max(h, w))^2: pixels^2 -> normalized units^2
  double sigma;
  std::vector<Camera> cameras;
  std::vector<std::vector<FaceGeom>> faces;         // [B][kept faces]
  std::vector<std::vector<int>> tile_faces;         // [B * tiles][face slots]

  int64_t tiles() const { return tiles_x * tiles_y; }
};

// Validates the inputs, projects and bins the faces. Returns false (with the
// context's status set) on bad input.
bool BuildScene(OpKernelContext* context, const Tensor& vertices, const Tensor& faces,
                const Tensor& projection, int64_t height, int64_t width, float sigma,
                bool perspective, Scene* scene) {
  if (vertices.dims() != 3 || vertices.dim_size(2) != 3) {
    context->CtxFailure(errors::InvalidArgument("vertices must have shape [B, V, 3], got ",
                                                vertices.shape().DebugString()));
    return false;
  }
  const int64_t batch = vertices.dim_size(0), num_vertices = vertices.dim_size(1);
  if (faces.dims() != 2 || faces.dim_size(1) != 3) {
    context->CtxFailure(errors::InvalidArgument("faces must have shape [F, 3], got ",
                                                faces.shape().DebugString()));
    return false;
  }
  if (projection.dims() != 3 || projection.dim_size(0) != batch || projection.dim_size(1) != 3 ||
      projection.dim_size(2) != 4) {
    context->CtxFailure(errors::InvalidArgument("projection must have shape [B, 3, 4] with B = ",
                                                batch, ", got ",
                                                projection.shape().DebugString()));
    return false;
  }
  if (!(std::isfinite(sigma) && sigma > 0.0f)) {
    context->CtxFailure(errors::InvalidArgument("sigma must be positive and finite, got ", sigma));
    return false;
  }
  const int64_t num_faces = faces.dim_size(0);
  const int* face_data = faces.flat<int>().data();
  for (int64_t i = 0; i < num_faces * 3; ++i) {
    if (face_data[i] < 0 || face_data[i] >= num_vertices) {
      context->CtxFailure(errors::InvalidArgument("faces[", i / 3, "] holds vertex index ",
                                                  face_data[i], ", outside [0, ", num_vertices,
                                                  ") for vertices of shape ",
                                                  vertices.shape().DebugString()));
      return false;
    }
  }
  const float* v = vertices.flat<float>().data();
  for (int64_t i = 0; i < vertices.NumElements(); ++i) {
    if (!std::isfinite(v[i])) {
      context->CtxFailure(errors::InvalidArgument("vertices must be finite; vertices[",
                                                  i / (3 * num_vertices), ", ",
                                                  (i / 3) % num_vertices, "] is not"));
      return false;
    }
  }
  scene->batch = batch;
  scene->height = height;
  scene->width = width;
  scene->tiles_x = (width + kTile - 1) / kTile;
  scene->tiles_y = (height + kTile - 1) / kTile;
  const double s = 2.0 / static_cast<double>(std::max(height, width));
  scene->scale2 = s * s;
  scene->sigma = sigma;
  scene->cameras.resize(batch);
  const float* p = projection.flat<float>().data();
  for (int64_t b = 0; b < batch; ++b) {
    if (!MakeCamera(p + 12 * b, perspective, &scene->cameras[b])) {
      context->CtxFailure(errors::InvalidArgument(
          "projection[", b, "] must be finite with an invertible left 3x3 block"));
      return false;
    }
  }
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
          const int vi = face_data[3 * f + k];
          g.vertex[k] = vi;
          g.x[k] = px[vi];
          g.y[k] = py[vi];
          if (perspective && !(depth[vi] > kMinDepth)) visible = false;
        }
        // Degenerate (zero-area) faces have no inside; the reference drops them too.
        const double area2 = (g.x[1] - g.x[0]) * (g.y[2] - g.y[0]) - (g.y[1] - g.y[0]) * (g.x[2] - g.x[0]);
        if (!visible || area2 == 0.0) continue;
        g.xmin = std::min({g.x[0], g.x[1], g.x[2]}) - radius;
        g.xmax = std::max({g.x[0], g.x[1], g.x[2]}) + radius;
        g.ymin = std::min({g.y[0], g.y[1], g.y[2]}) - radius;
        g.ymax = std::max({g.y[0], g.y[1], g.y[2]}) + radius;
        // Pixel centres col + 0.5 inside [xmin, xmax].
        const int64_t c0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::max(g.xmin - 0.5, -1.0))));
        const int64_t c1 = std::min<int64_t>(width - 1, static_cast<int64_t>(std::floor(std::min(g.xmax - 0.5, static_cast<double>(width)))));
        const int64_t r0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::max(g.ymin - 0.5, -1.0))));
        const int64_t r1 = std::min<int64_t>(height - 1, static_cast<int64_t>(std::floor(std::min(g.ymax - 0.5, static_cast<double>(height)))));
        if (c0 > c1 || r0 > r1) continue;
        const int slot = static_cast<int>(kept.size());
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
  tensorflow::Shard(workers->num_threads, workers->workers, batch, num_faces * 200 + 1, bin);
  return true;
}

// Calls fn(pixel_index, px, py, q, pixel_face, face) for every face within
// the cutoff of every pixel of one (example, tile) unit, after
// begin_pixel(pixel_index) and before end_pixel(pixel_index).
template <typename Begin, typename Visit, typename End>
void ForEachPixelFace(const Scene& scene, int64_t unit, const Begin& begin_pixel,
                      const Visit& visit, const End& end_pixel) {
  const int64_t b = unit / scene.tiles(), tile = unit % scene.tiles();
  const int64_t ty = tile / scene.tiles_x, tx = tile % scene.tiles_x;
  const std::vector<int>& slots = scene.tile_faces[unit];
  const std::vector<FaceGeom>& faces = scene.faces[b];
  const double to_x = scene.scale2 / scene.sigma;
  const double cutoff_px2 = kCutoff / to_x;
  for (int64_t row = ty * kTile; row < std::min(scene.height, (ty + 1) * kTile); ++row) {
    for (int64_t col = tx * kTile; col < std::min(scene.width, (tx + 1) * kTile); ++col) {
      const double px = col + 0.5, py = row + 0.5;
      const int64_t pixel = (b * scene.height + row) * scene.width + col;
      begin_pixel(pixel);
      for (int slot : slots) {
        const FaceGeom& f = faces[slot];
        if (px < f.xmin || px > f.xmax || py < f.ymin || py > f.ymax) continue;
        PixelFace pf;
        EvaluatePixelFace(f, px, py, &pf);
        if (!pf.inside && pf.d2 >= cutoff_px2) continue;
        visit(pixel, px, py, Escape(pf.inside, pf.d2 * to_x), pf, f);
      }
      end_pixel(pixel);
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
    Scene scene;
    if (!BuildScene(context, context->input(0), context->input(1), context->input(2), height_,
                    width_, sigma_, perspective_, &scene)) {
      return;
    }
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(
                                0, TensorShape({scene.batch, height_, width_}), &output));
    float* out = output->flat<float>().data();
    auto tiles = [&](int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        double escape = 1.0;
        ForEachPixelFace(
            scene, unit, [&](int64_t) { escape = 1.0; },
            [&](int64_t, double, double, double q, const PixelFace&, const FaceGeom&) {
              escape *= q;
            },
            [&](int64_t pixel) { out[pixel] = static_cast<float>(1.0 - escape); });
      }
    };
    const auto* workers = context->device()->tensorflow_cpu_worker_threads();
    tensorflow::Shard(workers->num_threads, workers->workers, scene.batch * scene.tiles(),
                      kTile * kTile * 400, tiles);
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
    OP_REQUIRES(context, grad.dims() == 3,
                errors::InvalidArgument("grad_silhouette must have shape [B, h, w], got ",
                                        grad.shape().DebugString()));
    Scene scene;
    if (!BuildScene(context, vertices, context->input(2), context->input(3), grad.dim_size(1),
                    grad.dim_size(2), sigma_, perspective_, &scene)) {
      return;
    }
    OP_REQUIRES(context, grad.dim_size(0) == scene.batch,
                errors::InvalidArgument("grad_silhouette must have batch size ", scene.batch,
                                        ", got ", grad.shape().DebugString()));
    const int64_t num_vertices = vertices.dim_size(1);
    const float* g_out = grad.flat<float>().data();
    const double to_x = scene.scale2 / scene.sigma;

    // One pixel's faces within the cutoff: the escape product over faces
    // with q > 0 and the count of q == 0 give prod_{k != j} q_k without
    // dividing by zero.
    struct Hit {
      double q, cx, cy, t;
      int edge;
      bool inside;
      const FaceGeom* face;
    };
    auto tile = [&](int64_t unit, const auto& grad_of_example) {
      const int64_t b = unit / scene.tiles();
      double* duv = grad_of_example(b);  // [V, 2]: d loss / d (u, v)
      std::vector<Hit> hits;
      ForEachPixelFace(
          scene, unit, [&](int64_t) { hits.clear(); },
          [&](int64_t, double, double, double q, const PixelFace& pf, const FaceGeom& f) {
            hits.push_back({q, pf.cx, pf.cy, pf.t, pf.edge, pf.inside, &f});
          },
          [&](int64_t pixel) {
            const double g = g_out[pixel];
            if (g == 0.0 || hits.empty()) return;
            const int64_t row = (pixel / scene.width) % scene.height, col = pixel % scene.width;
            const double px = col + 0.5, py = row + 0.5;
            double nonzero = 1.0;
            int zeros = 0;
            for (const Hit& h : hits) {
              if (h.q == 0.0) ++zeros; else nonzero *= h.q;
            }
            for (const Hit& h : hits) {
              double others;
              if (h.q != 0.0) others = zeros == 0 ? nonzero / h.q : 0.0;
              else others = zeros == 1 ? nonzero : 0.0;
              // s = 1 - prod q: ds/dq_j = -others; q = sigmoid(-/+ x).
              const double dq_dx = (h.inside ? -1.0 : 1.0) * h.q * (1.0 - h.q);
              const double dd2 = -g * others * dq_dx * to_x;
              if (dd2 == 0.0) continue;
              // d(d2)/d(corner a) = -2 (p - c)(1 - t), d(d2)/d(corner b) = -2 (p - c) t
              // (the envelope theorem: t minimizes the distance).
              const double rx = -2.0 * (px - h.cx) * dd2, ry = -2.0 * (py - h.cy) * dd2;
              const int a = h.face->vertex[h.edge], c = h.face->vertex[(h.edge + 1) % 3];
              duv[2 * a] += rx * (1.0 - h.t);
              duv[2 * a + 1] += ry * (1.0 - h.t);
              duv[2 * c] += rx * h.t;
              duv[2 * c + 1] += ry * h.t;
            }
          });
    };
    std::vector<double> duv;
    ShardedScatter(context, scene.batch, scene.tiles(), num_vertices * 2, kTile * kTile * 800,
                   tile, &duv);
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, vertices.shape(), &output));
    float* out = output->flat<float>().data();
    const float* v = vertices.flat<float>().data();
    for (int64_t b = 0; b < scene.batch; ++b) {
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
      }
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

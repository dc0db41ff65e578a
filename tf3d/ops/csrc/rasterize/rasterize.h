// Hard z-buffer rasterization: geometry of one pixel against one face.
//
// A face's corners project to image points (x_k, y_k) at depths z_k
// (common/camera.h). The pixel centre p has screen-space barycentrics
// l_k = E_k(p) / A, where E_k is twice the signed area of p and the edge
// opposite corner k, and A = E(v0, v1, v2); p is inside when every l_k >= 0
// (either winding, edges included). Perspective-correct barycentrics weigh
// each l_k by 1 / z_k, b_k = (l_k / z_k) / sum_j (l_j / z_j), and the
// pixel's depth is 1 / sum_j (l_j / z_j) (depth is affine in the image only
// through its reciprocal); orthographic cameras keep b_k = l_k and interpolate
// depth linearly. The nearest face wins; at equal depths the lower face id.
//
// Watertightness: two faces sharing an edge must agree, bit for bit, on which
// side of it a pixel lies, or pixels on the edge fall through both. So each
// edge function is evaluated with its endpoints in a canonical order (lower
// vertex index first) and negated when the face lists them the other way.
// tf3d/ops/rasterize_reference.py computes the same expressions in the same
// order.
#ifndef TF3D_OPS_CSRC_RASTERIZE_RASTERIZE_H_
#define TF3D_OPS_CSRC_RASTERIZE_RASTERIZE_H_

#include <cstdint>

namespace tf3d {

// Faces with a vertex at or behind this depth are dropped in perspective, as
// in mesh_silhouette (their projection wraps around); the reference does the same.
constexpr double kRasterMinDepth = 1e-6;

// A projected, non-degenerate face of one example.
struct RasterFace {
  double x[3], y[3], z[3];          // image coordinates (pixels) and depths of the corners
  double area;                      // E(v0, v1, v2), nonzero
  double xmin, xmax, ymin, ymax;    // bounding box
  int32_t vertex[3];
  int32_t id;                       // index into faces
};

// Twice the signed area of the triangle (a, b, p).
inline double EdgeFunction(double ax, double ay, double bx, double by, double px, double py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

// EdgeFunction of the face's edge from corner i to corner j, endpoints in
// canonical order (see the file comment).
inline double WatertightEdge(const RasterFace& f, int i, int j, double px, double py) {
  if (f.vertex[i] > f.vertex[j]) {
    return -EdgeFunction(f.x[j], f.y[j], f.x[i], f.y[i], px, py);
  }
  return EdgeFunction(f.x[i], f.y[i], f.x[j], f.y[j], px, py);
}

// Whether pixel centre (px, py) is inside face f; if so its perspective-correct
// barycentrics and depth.
inline bool RasterizePixel(const RasterFace& f, double px, double py, bool perspective,
                           double bary[3], double* depth) {
  const double l0 = WatertightEdge(f, 1, 2, px, py) / f.area;
  const double l1 = WatertightEdge(f, 2, 0, px, py) / f.area;
  const double l2 = WatertightEdge(f, 0, 1, px, py) / f.area;
  if (!(l0 >= 0.0 && l1 >= 0.0 && l2 >= 0.0)) return false;
  if (perspective) {
    const double q0 = l0 / f.z[0], q1 = l1 / f.z[1], q2 = l2 / f.z[2];
    const double s = q0 + q1 + q2;  // > 0: every z_k > kRasterMinDepth and the l_k sum to 1
    bary[0] = q0 / s;
    bary[1] = q1 / s;
    bary[2] = q2 / s;
    *depth = 1.0 / s;
  } else {
    bary[0] = l0;
    bary[1] = l1;
    bary[2] = l2;
    *depth = l0 * f.z[0] + l1 * f.z[1] + l2 * f.z[2];
  }
  return true;
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_RASTERIZE_RASTERIZE_H_

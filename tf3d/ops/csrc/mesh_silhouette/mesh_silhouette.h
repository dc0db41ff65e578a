// Soft mesh silhouette (SoftRas, Liu et al. 2019, eqs. 1-2 and the
// silhouette aggregation of eq. 6): geometry of one pixel against one face.
//
// Distances are measured in normalized image units, where the longer image
// side spans 2 (SoftRas's NDC), so that sigma means the same thing at every
// resolution: d_norm = d_pixels * 2 / max(h, w). A face contributes
// D = sigmoid(delta * d_norm^2 / sigma), delta = +1 inside the projected
// triangle and -1 outside, and the pixel's silhouette is 1 - prod_j (1 - D_j).
// The kernels work with q = 1 - D = sigmoid(-delta x), x = d_norm^2 / sigma,
// computed directly so that q keeps its relative precision near 0.
//
// Faces with D < kMinContribution are skipped: outside a face that happens
// once x > kCutoff = log((1 - eps) / eps), i.e. d_norm^2 > kCutoff * sigma.
// The reference implementation applies the same cutoff, so op and reference
// compute one function.
#ifndef TF3D_OPS_CSRC_MESH_SILHOUETTE_MESH_SILHOUETTE_H_
#define TF3D_OPS_CSRC_MESH_SILHOUETTE_MESH_SILHOUETTE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tf3d {

constexpr double kMinContribution = 1e-5;
constexpr double kCutoff = 11.512915464920228;  // log((1 - 1e-5) / 1e-5)
// Faces with a vertex at or behind this depth are dropped in perspective
// (their projection wraps around); the reference does the same.
constexpr double kMinDepth = 1e-6;

// A projected, non-degenerate face of one example, with what every pixel
// test needs precomputed once per face (edge vectors, reciprocal squared
// edge lengths) rather than once per pixel.
struct FaceGeom {
  double x[3], y[3];                // image coordinates of the corners (pixels)
  double ex[3], ey[3];              // edge k: corner k -> corner k+1
  double inv_len2[3];               // 1 / |edge k|^2 (edges of a non-degenerate face are > 0)
  int64_t col0, col1, row0, row1;   // pixels whose centre lies in the grown bounding box
  int64_t vertex[3];
};

// Fills the edge data of a face whose corners are set.
inline void PrepareFace(FaceGeom* f) {
  for (int k = 0; k < 3; ++k) {
    const int n = (k + 1) % 3;
    f->ex[k] = f->x[n] - f->x[k];
    f->ey[k] = f->y[n] - f->y[k];
    const double len2 = f->ex[k] * f->ex[k] + f->ey[k] * f->ey[k];
    f->inv_len2[k] = len2 > 0.0 ? 1.0 / len2 : 0.0;
  }
}

// The most pixels of one row that EvaluateRow handles at once (a tile's width).
constexpr int kMaxRow = 8;

// How pixels of one row relate to a face, as arrays over the row: squared
// distance (pixels^2) to the face's boundary, whether the pixel is inside
// (1.0 or 0.0), and, when asked for, the offset (rx, ry) = pixel - nearest
// boundary point, which lies on edge `edge` (corner k -> k+1) at parameter t.
struct RowFace {
  double d2[kMaxRow], inside[kMaxRow];
  double rx[kMaxRow], ry[kMaxRow], t[kMaxRow], edge[kMaxRow];
};

// Fills `row` for the pixel centres (px0 + i, py), i < n <= kMaxRow; the
// nearest-point arrays only if kNearest. The loop over pixels has no
// branches (the nearest edge is chosen by selects, the first of equals as
// a strict `<` would), so that the compiler vectorizes it; both variants
// give the same d2 and inside bit for bit.
template <bool kNearest>
inline void EvaluateRow(const FaceGeom& f, double px0, double py, int n, RowFace* __restrict row) {
  for (int i = 0; i < n; ++i) {
    const double px = px0 + i;
    double best = INFINITY, best_t = 0.0, best_rx = 0.0, best_ry = 0.0, best_edge = 0.0;
    double cross_min = INFINITY, cross_max = -INFINITY;
    for (int k = 0; k < 3; ++k) {
      const double ex = f.ex[k], ey = f.ey[k];
      const double wx = px - f.x[k], wy = py - f.y[k];
      const double cross = ex * wy - ey * wx;
      cross_min = std::min(cross_min, cross);
      cross_max = std::max(cross_max, cross);
      const double t = std::min(1.0, std::max(0.0, (wx * ex + wy * ey) * f.inv_len2[k]));
      const double rx = wx - t * ex, ry = wy - t * ey;
      const double d2 = rx * rx + ry * ry;
      const bool nearer = d2 < best;
      if (kNearest) {
        best_t = nearer ? t : best_t;
        best_rx = nearer ? rx : best_rx;
        best_ry = nearer ? ry : best_ry;
        best_edge = nearer ? static_cast<double>(k) : best_edge;
      }
      best = nearer ? d2 : best;
    }
    row->d2[i] = best;
    // Inside unless the pixel is strictly left of one edge and strictly right of another.
    row->inside[i] = (cross_min < 0.0) & (cross_max > 0.0) ? 0.0 : 1.0;
    if (kNearest) {
      row->t[i] = best_t;
      row->rx[i] = best_rx;
      row->ry[i] = best_ry;
      row->edge[i] = best_edge;
    }
  }
}

// q = 1 - D for a pixel-face pair; x = d_norm^2 / sigma.
inline double Escape(bool inside, double x) {
  return inside ? 1.0 / (1.0 + std::exp(x)) : 1.0 / (1.0 + std::exp(-x));
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_MESH_SILHOUETTE_MESH_SILHOUETTE_H_

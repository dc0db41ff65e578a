// Voxel silhouette projection: per-ray sampling and aggregation.
//
// Each pixel casts a ray (common/camera.h), samples the occupancy grid
// trilinearly at S depths t_i = near + (i + 0.5) (far - near) / S and
// aggregates the samples p_i either as in Differentiable Ray Consistency
// (Tulsiani et al. 2017, eq. 1 with the ray's "escape" probability):
// s = 1 - prod_i (1 - p_i), or as in Perspective Transformer Nets (Yan et al.
// 2016, eq. 4): s = max_i p_i.
//
// The grid [X, Y, Z] fills the cube [-0.5, 0.5]^3 with voxel centres at
// -0.5 + (i + 0.5) / R (tf3d/conventions.py); interpolation runs between
// centres and treats everything outside the grid as empty.
#ifndef TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_
#define TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_

#include <cmath>
#include <cstdint>

namespace tf3d {

// The (up to) 8 grid cells that a trilinear sample reads, with weights.
struct Trilinear {
  int64_t index[8];
  double weight[8];
  int count;
};

inline void TrilinearCorners(const double x[3], const int64_t dims[3], Trilinear* out) {
  out->count = 0;
  int64_t lo[3];
  double frac[3];
  for (int a = 0; a < 3; ++a) {
    // Continuous index whose integers are voxel centres.
    const double g = (x[a] + 0.5) * static_cast<double>(dims[a]) - 0.5;
    // Checked in double before any cast: a sample at or beyond one voxel
    // outside the grid reads nothing, and huge values must not overflow.
    if (!(g > -1.0 && g < static_cast<double>(dims[a]))) return;
    const double f = std::floor(g);
    lo[a] = static_cast<int64_t>(f);
    frac[a] = g - f;
  }
  for (int dx = 0; dx < 2; ++dx) {
    const int64_t i = lo[0] + dx;
    if (i < 0 || i >= dims[0]) continue;
    const double wx = dx ? frac[0] : 1.0 - frac[0];
    for (int dy = 0; dy < 2; ++dy) {
      const int64_t j = lo[1] + dy;
      if (j < 0 || j >= dims[1]) continue;
      const double wy = wx * (dy ? frac[1] : 1.0 - frac[1]);
      for (int dz = 0; dz < 2; ++dz) {
        const int64_t k = lo[2] + dz;
        if (k < 0 || k >= dims[2]) continue;
        out->index[out->count] = (i * dims[1] + j) * dims[2] + k;
        out->weight[out->count] = wy * (dz ? frac[2] : 1.0 - frac[2]);
        ++out->count;
      }
    }
  }
}

inline double SampleGrid(const float* grid, const Trilinear& t) {
  double value = 0.0;
  for (int c = 0; c < t.count; ++c) value += t.weight[c] * grid[t.index[c]];
  return value;
}

// Sample positions along a ray: x_i = origin + t_i * dir.
inline void SamplePoint(const double origin[3], const double dir[3], double near, double step,
                        int i, double x[3]) {
  const double t = near + (i + 0.5) * step;
  for (int a = 0; a < 3; ++a) x[a] = origin[a] + t * dir[a];
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_

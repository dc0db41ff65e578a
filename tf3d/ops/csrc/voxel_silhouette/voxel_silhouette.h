// Voxel silhouette projection: rays, trilinear samples and the densities they read.
//
// The grid [X, Y, Z] fills the cube [-0.5, 0.5]^3 with voxel centres at
// -0.5 + (i + 0.5) / R (tf3d/conventions.py); interpolation runs between
// centres and treats everything outside the grid as empty. Each pixel casts
// a ray X(t) = origin + t dir (common/camera.h), t the depth, sampled at the
// midpoints t_i = near + (i + 0.5) step of S equal steps between near and far.
//
// Mode "drc" renders the grid as an absorbing medium (emission-absorption
// volume rendering: Max 1995, "Optical models for direct volume rendering";
// the quadrature of Mildenhall et al. 2020, NeRF, eq. 3) whose
// density makes Differentiable Ray Consistency's event exact (Tulsiani et
// al. 2017, eq. 1 with the ray's escape probability): voxel v has
// density sigma_v = -log(1 - p_v) per voxel length, so that a ray crossing it
// along a grid axis escapes with probability 1 - p_v. The density between
// voxel centres is the trilinear interpolation of sigma (as voxel radiance
// fields interpolate density, e.g. Plenoxels), and
//   s = 1 - exp(-integral_near^far sigma(X(t)) |D dX/dt| dt),
// with D = diag(X, Y, Z) measuring path length in voxels. The integral is the
// midpoint rule: every sample contributes sigma(X(t_i)) * L, where
// L = step |D dir| is the step's length in voxels (so each sample's opacity
// 1 - exp(-sigma L) scales with its step), and s converges as S grows.
// Along a grid axis through voxel centres the interpolating hat functions
// integrate to one voxel each, so s equals DRC's 1 - prod_v (1 - p_v) over
// the voxels crossed. A voxel with p = 1 is opaque (infinite density): a ray
// whose samples give it positive weight is blocked, s = 1 and its gradient
// is zero.
//
// Mode "max" is Perspective Transformer Nets' max (Yan et al. 2016, eq. 4):
// s = max_i p(X(t_i)) with p the trilinear occupancy; S sets how finely the
// maximum along the ray is searched.
#ifndef TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_
#define TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_

#include <cmath>
#include <cstdint>

#include "../common/camera.h"

namespace tf3d {

// The (up to) 8 grid cells that a trilinear sample reads, with weights and,
// on request, the weights' derivatives with respect to the sample's
// continuous voxel coordinates g (g = (x + 0.5) R - 0.5 per axis).
struct Trilinear {
  int64_t index[8];
  double weight[8];
  double dweight[8][3];
  int count;
};

inline void TrilinearCorners(const double x[3], const int64_t dims[3], bool with_gradient,
                             Trilinear* out) {
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
    const double wx = dx ? frac[0] : 1.0 - frac[0], sx = dx ? 1.0 : -1.0;
    for (int dy = 0; dy < 2; ++dy) {
      const int64_t j = lo[1] + dy;
      if (j < 0 || j >= dims[1]) continue;
      const double wy = dy ? frac[1] : 1.0 - frac[1], sy = dy ? 1.0 : -1.0;
      for (int dz = 0; dz < 2; ++dz) {
        const int64_t k = lo[2] + dz;
        if (k < 0 || k >= dims[2]) continue;
        const double wz = dz ? frac[2] : 1.0 - frac[2], sz = dz ? 1.0 : -1.0;
        const int c = out->count++;
        out->index[c] = (i * dims[1] + j) * dims[2] + k;
        out->weight[c] = wx * wy * wz;
        if (with_gradient) {
          out->dweight[c][0] = sx * wy * wz;
          out->dweight[c][1] = wx * sy * wz;
          out->dweight[c][2] = wx * wy * sz;
        }
      }
    }
  }
}

template <typename T>
inline double SampleGrid(const T* grid, const Trilinear& t) {
  double value = 0.0;
  for (int c = 0; c < t.count; ++c) value += t.weight[c] * grid[t.index[c]];
  return value;
}

// Density per voxel length of a voxel with occupancy p < 1 (DRC's escape
// probability 1 - p over one voxel). Opaque voxels (p = 1) are handled by
// the callers as blocking, so their density slot holds 0, never inf.
inline double VoxelDensity(float p) {
  return p < 1.0f ? -std::log1p(-static_cast<double>(p)) : 0.0;
}

// One pixel's ray and the length in voxels of one sampling step.
struct VoxelRay {
  double origin[3], dir[3];
  double step_voxels;  // L = step |D dir|
};

inline void MakeVoxelRay(const Camera& cam, double u, double v, const int64_t dims[3],
                         double step, VoxelRay* ray) {
  PixelRay(cam, u, v, ray->origin, ray->dir);
  double norm2 = 0.0;
  for (int a = 0; a < 3; ++a) {
    const double d = static_cast<double>(dims[a]) * ray->dir[a];
    norm2 += d * d;
  }
  ray->step_voxels = step * std::sqrt(norm2);
}

// Sample positions along a ray: x_i = origin + t_i * dir.
inline double SamplePoint(const VoxelRay& ray, double near, double step, int64_t i, double x[3]) {
  const double t = near + (static_cast<double>(i) + 0.5) * step;
  for (int a = 0; a < 3; ++a) x[a] = ray.origin[a] + t * ray.dir[a];
  return t;
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_VOXEL_SILHOUETTE_VOXEL_SILHOUETTE_H_

// Camera geometry shared by the silhouette kernels.
//
// A camera is a 3x4 projection matrix P = [M | p4] (row-major, float32 as it
// arrives from TensorFlow), following tf3d/conventions.py: a world point X
// maps to P [X; 1] = (a, b, z); perspective pixels are (a / z, b / z) and
// orthographic pixels are (a, b); z is the depth in both cases. All geometry
// runs in double so that the kernels agree with a float64 reference.
#ifndef TF3D_OPS_CSRC_COMMON_CAMERA_H_
#define TF3D_OPS_CSRC_COMMON_CAMERA_H_

#include <cmath>

namespace tf3d {

struct Camera {
  double p[12];     // P, row-major
  double minv[9];   // M^-1, row-major
  bool perspective;
};

// Fills `cam` from a row-major 3x4 matrix. Returns false when an entry is not
// finite, or, with `need_inverse`, when M is singular. Only ray casting needs
// M^-1: projecting points works with any finite P (an orthographic camera
// whose depth row is constant is valid for a silhouette).
inline bool MakeCamera(const float* projection, bool perspective, bool need_inverse,
                       Camera* cam) {
  for (int i = 0; i < 12; ++i) {
    if (!std::isfinite(projection[i])) return false;
    cam->p[i] = projection[i];
  }
  cam->perspective = perspective;
  for (int i = 0; i < 9; ++i) cam->minv[i] = 0.0;
  if (!need_inverse) return true;
  const double* p = cam->p;
  const double a = p[0], b = p[1], c = p[2];
  const double d = p[4], e = p[5], f = p[6];
  const double g = p[8], h = p[9], k = p[10];
  const double co0 = e * k - f * h, co1 = f * g - d * k, co2 = d * h - e * g;
  const double det = a * co0 + b * co1 + c * co2;
  if (!std::isfinite(det) || det == 0.0) return false;
  const double s = 1.0 / det;
  double* m = cam->minv;
  m[0] = co0 * s; m[1] = (c * h - b * k) * s; m[2] = (b * f - c * e) * s;
  m[3] = co1 * s; m[4] = (a * k - c * g) * s; m[5] = (c * d - a * f) * s;
  m[6] = co2 * s; m[7] = (b * g - a * h) * s; m[8] = (a * e - b * d) * s;
  return std::isfinite(m[0] + m[1] + m[2] + m[3] + m[4] + m[5] + m[6] + m[7] + m[8]);
}

inline void MulMinv(const Camera& cam, const double x[3], double out[3]) {
  const double* m = cam.minv;
  for (int r = 0; r < 3; ++r) out[r] = m[3 * r] * x[0] + m[3 * r + 1] * x[1] + m[3 * r + 2] * x[2];
}

// The ray through image point (u, v), parametrised by depth t:
// X(t) = origin + t * dir. Perspective: origin is the camera centre
// C = -M^-1 p4 and dir = M^-1 (u, v, 1), so P [X(t); 1] = t (u, v, 1) and t is
// the depth because K's last row is (0, 0, 1). Orthographic: origin =
// M^-1 ((u, v, 0) - p4) and dir = M^-1 (0, 0, 1), so P [X(t); 1] = (u, v, t).
inline void PixelRay(const Camera& cam, double u, double v, double origin[3], double dir[3]) {
  const double p4[3] = {cam.p[3], cam.p[7], cam.p[11]};
  if (cam.perspective) {
    const double uv1[3] = {u, v, 1.0};
    MulMinv(cam, uv1, dir);
    MulMinv(cam, p4, origin);
    for (int i = 0; i < 3; ++i) origin[i] = -origin[i];
  } else {
    const double q[3] = {u - p4[0], v - p4[1], -p4[2]};
    const double z[3] = {0.0, 0.0, 1.0};
    MulMinv(cam, q, origin);
    MulMinv(cam, z, dir);
  }
}

// Projects world point x to image point (u, v) and depth. Writes the 2x3
// Jacobian d(u, v)/dx into `jac` (row-major) when it is not null.
inline void Project(const Camera& cam, const double x[3], double* u, double* v, double* depth,
                    double* jac) {
  const double* p = cam.p;
  const double a = p[0] * x[0] + p[1] * x[1] + p[2] * x[2] + p[3];
  const double b = p[4] * x[0] + p[5] * x[1] + p[6] * x[2] + p[7];
  const double z = p[8] * x[0] + p[9] * x[1] + p[10] * x[2] + p[11];
  *depth = z;
  if (cam.perspective) {
    const double iz = 1.0 / z;
    *u = a * iz;
    *v = b * iz;
    if (jac) {
      for (int i = 0; i < 3; ++i) {
        jac[i] = (p[i] - *u * p[8 + i]) * iz;
        jac[3 + i] = (p[4 + i] - *v * p[8 + i]) * iz;
      }
    }
  } else {
    *u = a;
    *v = b;
    if (jac) {
      for (int i = 0; i < 3; ++i) {
        jac[i] = p[i];
        jac[3 + i] = p[4 + i];
      }
    }
  }
}

// Adds d loss / d P (row-major 3x4) to `grad` for a point x that Project()
// mapped to (u, v) at `depth`, given d loss / d (u, v) = (gu, gv). With
// x~ = [x; 1]: perspective u = P0 x~ / P2 x~, so du/dP0 = x~ / z and
// du/dP2 = -u x~ / z (likewise v with P1); orthographic u = P0 x~.
inline void AccumulateProjectionGrad(const Camera& cam, const double x[3], double u, double v,
                                     double depth, double gu, double gv, double grad[12]) {
  const double xt[4] = {x[0], x[1], x[2], 1.0};
  if (cam.perspective) {
    const double iz = 1.0 / depth, gz = -(gu * u + gv * v) * iz;
    for (int j = 0; j < 4; ++j) {
      grad[j] += gu * iz * xt[j];
      grad[4 + j] += gv * iz * xt[j];
      grad[8 + j] += gz * xt[j];
    }
  } else {
    for (int j = 0; j < 4; ++j) {
      grad[j] += gu * xt[j];
      grad[4 + j] += gv * xt[j];
    }
  }
}

// Ray points move with the camera: X(t) = origin + t dir solves
// P [X; 1] = (t u, t v, t) (perspective) or (u, v, t) (orthographic) for the
// fixed pixel (u, v) and depth t, so dX = -M^-1 (dP [X; 1]) and, for
// d loss / dX = g, d loss / dP = -M^-T g [X; 1]^T. Likewise dir solves
// M dir = const, so d dir = -M^-1 dM dir. Kernels sum the outer products
// g [X; 1]^T (and h [dir; 0]^T for gradients h on dir) into `outer` per
// camera and convert once: grad = -M^-T outer (both row-major 3x4).
inline void RayOuterToProjectionGrad(const Camera& cam, const double outer[12], double grad[12]) {
  const double* m = cam.minv;
  for (int r = 0; r < 3; ++r) {
    for (int j = 0; j < 4; ++j) {
      grad[4 * r + j] = -(m[r] * outer[j] + m[3 + r] * outer[4 + j] + m[6 + r] * outer[8 + j]);
    }
  }
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_COMMON_CAMERA_H_

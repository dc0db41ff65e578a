// Input checks shared by the mesh kernels: vertices [B, V, 3], faces [F, 3]
// and cameras [B, 3, 4].
//
// tf3d/ops/_mesh_checks.py's check_mesh_arguments makes the same checks
// before either implementation of a mesh op runs; the kernels repeat them for
// callers of the raw ops, so that a bad face index or a NaN is an
// InvalidArgument rather than a read out of bounds.
#ifndef TF3D_OPS_CSRC_COMMON_MESH_INPUTS_H_
#define TF3D_OPS_CSRC_COMMON_MESH_INPUTS_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "camera.h"

namespace tf3d {

// Validates the shapes and values and fills one camera per example; allocates
// nothing sized by the image. Returns false, with the context's status set,
// on bad input.
inline bool CheckMeshInputs(tensorflow::OpKernelContext* context,
                            const tensorflow::Tensor& vertices, const tensorflow::Tensor& faces,
                            const tensorflow::Tensor& projection, bool perspective,
                            std::vector<Camera>* cameras) {
  namespace errors = tensorflow::errors;
  if (vertices.dims() != 3 || vertices.dim_size(2) != 3) {
    context->CtxFailure(errors::InvalidArgument("vertices must have shape [B, V, 3], got ",
                                                vertices.shape().DebugString()));
    return false;
  }
  const int64_t batch = vertices.dim_size(0), num_vertices = vertices.dim_size(1);
  if (faces.dims() != 2 || faces.dim_size(1) != 3 ||
      faces.dim_size(0) > std::numeric_limits<int32_t>::max()) {
    context->CtxFailure(errors::InvalidArgument(
        "faces must have shape [F, 3] with F < 2^31, got ", faces.shape().DebugString()));
    return false;
  }
  if (projection.dims() != 3 || projection.dim_size(0) != batch || projection.dim_size(1) != 3 ||
      projection.dim_size(2) != 4) {
    context->CtxFailure(errors::InvalidArgument("projection must have shape [B, 3, 4] with B = ",
                                                batch, ", got ",
                                                projection.shape().DebugString()));
    return false;
  }
  const int64_t num_faces = faces.dim_size(0);
  const int32_t* face_data = faces.flat<int32_t>().data();
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
  cameras->resize(batch);
  const float* p = projection.flat<float>().data();
  for (int64_t b = 0; b < batch; ++b) {
    // Projecting vertices needs no inverse: singular orthographic cameras are fine.
    if (!MakeCamera(p + 12 * b, perspective, /*need_inverse=*/false, &(*cameras)[b])) {
      context->CtxFailure(errors::InvalidArgument("projection[", b, "] must be finite"));
      return false;
    }
  }
  return true;
}

}  // namespace tf3d

#endif  // TF3D_OPS_CSRC_COMMON_MESH_INPUTS_H_

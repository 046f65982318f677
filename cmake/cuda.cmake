# The optional CUDA backend (-DADVMOE_CUDA=AUTO|ON|OFF). With AUTO it is built when the CUDA
# toolkit (FindCUDAToolkit) and cuDNN 9 (cudnn.h + libcudnn.so.9) are both found.
set(ADVMOE_WITH_CUDA OFF)
if(NOT ADVMOE_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(CUDNN_LIBRARY NAMES libcudnn.so.9 cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY)
    set(ADVMOE_WITH_CUDA ON)
  elseif(ADVMOE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ADVMOE_CUDA=ON but CUDA (${CMAKE_CUDA_COMPILER}) or cuDNN "
                        "(${CUDNN_INCLUDE_DIR}, ${CUDNN_LIBRARY}) was not found")
  endif()
endif()

if(ADVMOE_WITH_CUDA)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  # sm_90 machine code for H100/H200 plus PTX so newer GPUs can JIT-compile.
  set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
  message(STATUS "advmoe: CUDA backend ON (cuDNN ${CUDNN_LIBRARY})")
else()
  message(STATUS "advmoe: CUDA backend OFF")
endif()

function(advmoe_add_cuda_backend target)
  if(ADVMOE_WITH_CUDA)
    target_sources(${target} PRIVATE backends/cuda/cuda_backend.cu backends/cuda/kernels.cu
                                     backends/cuda/elementwise.cu backends/cuda/losses.cu
                                     backends/cuda/channels.cu backends/cuda/routing.cu
                                     backends/cuda/optimizer.cu backends/cuda/linear.cu
                                     backends/cuda/pooling.cu backends/cuda/batch_norm.cu
                                     backends/cuda/cudnn_conv.cu backends/cuda/conv2d.cu
                                     backends/cuda/expert_conv.cu backends/cuda/attack.cu
                                     backends/cuda/sparse.cu backends/cuda/collective.cu)
    target_compile_definitions(${target} PUBLIC ADVMOE_WITH_CUDA)
    target_include_directories(${target} PRIVATE ${CUDNN_INCLUDE_DIR})
    target_link_libraries(${target} PUBLIC CUDA::cudart_static CUDA::cublas ${CUDNN_LIBRARY})
  endif()
endfunction()

# NCCL (shipped with the CUDA toolkit of the machine image) for the data-parallel gradient
# all-reduce on GPUs; the MPI communicator bootstraps it (distributed/mpi_communicator.cpp). Its
# header is compiled against and the library is found here (so a build without it says so), but
# it is loaded at run time (dlopen): advmoe starts on machines without NCCL.
function(advmoe_add_nccl target)
  if(ADVMOE_WITH_CUDA)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    find_library(NCCL_LIBRARY NAMES nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
      message(STATUS "advmoe: NCCL ON (${NCCL_LIBRARY})")
      target_compile_definitions(${target} PRIVATE ADVMOE_WITH_NCCL)
      target_include_directories(${target} PRIVATE ${NCCL_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
      target_link_libraries(${target} PUBLIC CUDA::cudart_static ${CMAKE_DL_LIBS})
    else()
      message(WARNING "advmoe: CUDA is on but NCCL was not found: multi-GPU training is off")
    endif()
  endif()
endfunction()

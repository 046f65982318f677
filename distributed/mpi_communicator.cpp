// Communicator over MPI_COMM_WORLD, with NCCL for device memory when the CUDA backend is built.
#include "distributed/mpi_communicator.h"

#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include "runtime/error.h"

#ifdef ADVMOE_WITH_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace advmoe {

namespace {

#define ADVMOE_MPI(call)                                                                        \
  do {                                                                                          \
    int advmoe_mpi_rc_ = (call);                                                                \
    if (advmoe_mpi_rc_ != MPI_SUCCESS) {                                                        \
      char advmoe_mpi_text_[MPI_MAX_ERROR_STRING];                                              \
      int advmoe_mpi_len_ = 0;                                                                  \
      MPI_Error_string(advmoe_mpi_rc_, advmoe_mpi_text_, &advmoe_mpi_len_);                     \
      ADVMOE_FAIL("MPI: " #call " failed: " << std::string(advmoe_mpi_text_, advmoe_mpi_len_)); \
    }                                                                                           \
  } while (0)

// MPI counts are int: long buffers go in chunks.
constexpr int64_t kMaxChunk = std::numeric_limits<int>::max() / 2;

template <typename T>
void allreduce_chunks(T* data, int64_t n, MPI_Datatype type) {
  CollectiveTimer timer;
  for (int64_t first = 0; first < n; first += kMaxChunk) {
    int count = static_cast<int>(std::min(kMaxChunk, n - first));
    ADVMOE_MPI(MPI_Allreduce(MPI_IN_PLACE, data + first, count, type, MPI_SUM, MPI_COMM_WORLD));
  }
}

#ifdef ADVMOE_WITH_NCCL
// NCCL is loaded on first use (dlopen), not linked: a CPU run, or a GPU machine without NCCL,
// starts without it, and only a multi-GPU all-reduce needs libnccl.so.2 (the CUDA toolkit's, or
// the one PyTorch's nvidia-nccl wheel ships).
struct NcclApi {
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                             cudaStream_t) = nullptr;
  ncclResult_t (*comm_destroy)(ncclComm_t) = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;

  static const NcclApi& get() {
    static const NcclApi api = load();
    return api;
  }

 private:
  template <typename F>
  static void bind(void* library, const char* name, F& function) {
    function = reinterpret_cast<F>(dlsym(library, name));
    ADVMOE_CHECK(function != nullptr, "NCCL: libnccl.so.2 has no symbol " << name);
  }
  static NcclApi load() {
    void* library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!library) library = dlopen("libnccl.so", RTLD_NOW | RTLD_GLOBAL);
    ADVMOE_CHECK(library != nullptr, "NCCL: cannot load libnccl.so.2 for the multi-GPU all-reduce ("
                                         << dlerror()
                                         << "); put the CUDA toolkit's lib64 on LD_LIBRARY_PATH");
    NcclApi api;
    bind(library, "ncclGetUniqueId", api.get_unique_id);
    bind(library, "ncclCommInitRank", api.comm_init_rank);
    bind(library, "ncclAllReduce", api.all_reduce);
    bind(library, "ncclCommDestroy", api.comm_destroy);
    bind(library, "ncclGetErrorString", api.error_string);
    return api;
  }
};
#endif

class MpiWorld : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      ADVMOE_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      owns_mpi_ = true;
    }
    ADVMOE_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    ADVMOE_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  ~MpiWorld() override {
#ifdef ADVMOE_WITH_NCCL
    if (nccl_) NcclApi::get().comm_destroy(nccl_);
#endif
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override {
    return rank_;
  }
  int size() const override {
    return size_;
  }
  bool distributed() const override {
    return true;
  }
  void allreduce_sum(float* data, int64_t n) override {
    allreduce_chunks(data, n, MPI_FLOAT);
  }
  void allreduce_sum(double* data, int64_t n) override {
    allreduce_chunks(data, n, MPI_DOUBLE);
  }
  void allreduce_sum(int64_t* data, int64_t n) override {
    allreduce_chunks(data, n, MPI_INT64_T);
  }

  void allreduce_sum_device(float* data, int64_t n, void* stream) override {
#ifdef ADVMOE_WITH_NCCL
    CollectiveTimer timer;
    if (!nccl_) start_nccl();
    const NcclApi& nccl = NcclApi::get();
    auto s = static_cast<cudaStream_t>(stream);
    ncclResult_t rc =
        nccl.all_reduce(data, data, static_cast<size_t>(n), ncclFloat, ncclSum, nccl_, s);
    ADVMOE_CHECK(rc == ncclSuccess, "NCCL: all-reduce of " << n << " floats failed on rank "
                                                           << rank_ << ": "
                                                           << nccl.error_string(rc));
    // The timer measures the collective, not its queueing.
    cudaStreamSynchronize(s);
#else
    (void)data;
    (void)n;
    (void)stream;
    ADVMOE_FAIL(
        "a device all-reduce needs NCCL; this advmoe was built without it (no CUDA "
        "toolkit, or no libnccl beside it)");
#endif
  }

  std::vector<std::string> allgather(const std::string& text) override {
    int length = static_cast<int>(text.size());
    std::vector<int> lengths(static_cast<size_t>(size_));
    ADVMOE_MPI(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD));
    std::vector<int> offsets(static_cast<size_t>(size_));
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<size_t>(r)] = total;
      total += lengths[static_cast<size_t>(r)];
    }
    std::string all(static_cast<size_t>(total), '\0');
    ADVMOE_MPI(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                              offsets.data(), MPI_CHAR, MPI_COMM_WORLD));
    std::vector<std::string> texts;
    for (int r = 0; r < size_; ++r)
      texts.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                                 static_cast<size_t>(lengths[static_cast<size_t>(r)])));
    return texts;
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (int64_t first = 0; first < bytes; first += kMaxChunk)
      ADVMOE_MPI(MPI_Bcast(p + first, static_cast<int>(std::min(kMaxChunk, bytes - first)),
                           MPI_BYTE, root, MPI_COMM_WORLD));
  }

  void barrier() override {
    ADVMOE_MPI(MPI_Barrier(MPI_COMM_WORLD));
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
  }

 private:
#ifdef ADVMOE_WITH_NCCL
  // One NCCL rank per MPI rank, on the device the CUDA backend made current.
  void start_nccl() {
    const NcclApi& nccl = NcclApi::get();
    ncclUniqueId id;
    if (rank_ == 0) {
      ncclResult_t rc = nccl.get_unique_id(&id);
      ADVMOE_CHECK(rc == ncclSuccess, "NCCL: ncclGetUniqueId failed: " << nccl.error_string(rc));
    }
    broadcast(&id, sizeof id, 0);
    ncclResult_t rc = nccl.comm_init_rank(&nccl_, size_, id, rank_);
    ADVMOE_CHECK(rc == ncclSuccess, "NCCL: ncclCommInitRank (rank "
                                        << rank_ << " of " << size_
                                        << ") failed: " << nccl.error_string(rc));
  }
  ncclComm_t nccl_ = nullptr;
#endif
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

int local_rank_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return 0;
}

std::unique_ptr<Communicator> make_mpi_world() {
  return std::make_unique<MpiWorld>();
}

}  // namespace advmoe

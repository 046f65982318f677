// Checkpoints: round trip, PyTorch layout, validation errors, atomic writes under SIGKILL, exact
// resume, and reading from Python's h5py.
#include <boost/test/unit_test.hpp>

#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backends/backends.h"
#include "datasets/registry.h"
#include "models/registry.h"
#include "training/checkpoint.h"
#include "training/hdf5_probe.h"
#include "training/trainer.h"

#include "../helpers.h"

using namespace advmoe;
using namespace advmoe::testing;
namespace fs = std::filesystem;

namespace {

ModelConfig tiny_config() {
  ModelConfig mc;
  mc.batch = 32;
  mc.width = 0.25;
  return mc;
}

// A trained-for-a-few-steps tiny model with momentum, saved to `path`.
struct Saved {
  Model model;
  std::shared_ptr<Backend> backend;
  std::unique_ptr<Trainer> trainer;
  RunState state;
};

void save_trained(Saved& s, const std::string& path, const Dataset& data) {
  s.model = build_model(tiny_config());
  s.backend = make_backend("onednn");
  TrainConfig tc;
  tc.seed = 9;
  s.trainer = std::make_unique<Trainer>(s.model, *s.backend, tc);
  s.trainer->set_total_steps(4);
  EpochMetrics m = s.trainer->train_epoch(data, 1, nullptr);
  s.state = RunState{"fashion-mnist", 1, s.trainer->global_step(), 9, "lr = 0.05\n", {m}, ""};
  save_checkpoint(path, s.model, s.trainer->variables(), s.state);
}

// Opens a checkpoint for writing with the raw C API, to damage it in a controlled way.
template <typename Edit>
void edit_file(const std::string& path, Edit edit) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  BOOST_REQUIRE(f >= 0);
  edit(f);
  H5Fclose(f);
}

Dataset data128() {
  return load_dataset("fashion-mnist", "", "train", 128);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(round_trip_restores_every_tensor_and_the_run_state) {
  TempDir dir;
  Saved s;
  save_trained(s, dir.file("a.h5"), data128());
  CheckpointHeader h = read_checkpoint_header(dir.file("a.h5"));
  BOOST_TEST(h.model.arch == "smallcnn");
  BOOST_TEST(h.model.width == 0.25);
  BOOST_TEST(h.model.image == (Shape{28, 28, 1}));
  BOOST_TEST(h.state.epoch == 1);
  BOOST_TEST(h.state.step == 4);
  BOOST_TEST(h.state.seed == 9u);
  BOOST_TEST(h.state.config_ini == "lr = 0.05\n");
  BOOST_REQUIRE(h.state.metrics.size() == 1u);
  BOOST_TEST(h.state.metrics[0].train_loss == s.state.metrics[0].train_loss);

  Model fresh = build_model(tiny_config());
  auto backend = make_backend("onednn");
  Variables loaded(*backend);
  load_checkpoint_tensors(dir.file("a.h5"), fresh, loaded, /*with_optimizer=*/true);
  int compared = 0;
  for (const std::string& name : s.trainer->variables().names()) {
    bool in_graph = fresh.graph->has(name);
    Role role = in_graph ? fresh.graph->value(fresh.graph->find(name)).role : Role::Intermediate;
    bool persistent_state =
        role == Role::Param || role == Role::Buffer || name.rfind("momentum/", 0) == 0;
    if (!persistent_state) continue;
    BOOST_TEST(same_bytes(loaded.get(name), s.trainer->variables().get(name)), name);
    ++compared;
  }
  BOOST_TEST(compared == 14 + 8 + 14);  // params, BN buffers, momentum
}

BOOST_AUTO_TEST_CASE(conv_weights_are_stored_oihw) {
  Tensor ours = Tensor::zeros({2, 3, 3, 4}, DType::F32);  // [O, kh, kw, I]
  for (int o = 0; o < 2; ++o)
    for (int h = 0; h < 3; ++h)
      for (int w = 0; w < 3; ++w)
        for (int i = 0; i < 4; ++i)
          ours.data<float>()[((o * 3 + h) * 3 + w) * 4 + i] =
              static_cast<float>(o * 1000 + i * 100 + h * 10 + w);
  Tensor theirs = to_pytorch_layout(ours);
  BOOST_TEST(theirs.shape() == (Shape{2, 4, 3, 3}));
  for (int64_t k = 0; k < theirs.numel(); ++k) {
    int64_t w = k % 3, h = k / 3 % 3, i = k / 9 % 4, o = k / 36;
    BOOST_REQUIRE(theirs.item(k) == o * 1000 + i * 100 + h * 10 + w);
  }
  BOOST_TEST(same_bytes(from_pytorch_layout(theirs), ours));
}

BOOST_AUTO_TEST_CASE(bad_files_give_clear_errors) {
  TempDir dir;
  Saved s;
  std::string good = dir.file("good.h5");
  save_trained(s, good, data128());
  Model model = build_model(tiny_config());
  auto backend = make_backend("onednn");
  Variables v(*backend);
  auto load = [&](const std::string& p) { load_checkpoint_tensors(p, model, v, true); };

  BOOST_TEST(error_of([&] { load(dir.file("absent.h5")); }).find("missing checkpoint") !=
             std::string::npos);
  std::ofstream(dir.file("text.h5")) << "not hdf5";
  BOOST_TEST(error_of([&] { load(dir.file("text.h5")); }).find("not an HDF5 file") !=
             std::string::npos);

  // Truncated: the first half of a good file.
  {
    std::ifstream in(good, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir.file("half.h5"), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  std::string truncated = error_of([&] { load(dir.file("half.h5")); });
  BOOST_TEST(!truncated.empty());
  BOOST_TEST(truncated.find("half.h5") != std::string::npos, truncated);

  auto damaged = [&](const std::string& name, const std::function<void(hid_t)>& edit) {
    std::string p = dir.file(name);
    fs::copy_file(good, p);
    edit_file(p, edit);
    return error_of([&] { load(p); });
  };
  std::string m =
      damaged("missing.h5", [](hid_t f) { H5Ldelete(f, "/params/conv2.weight", H5P_DEFAULT); });
  BOOST_TEST(m.find("lacks dataset /params/conv2.weight") != std::string::npos, m);

  m = damaged("extra.h5", [](hid_t f) {
    hsize_t n = 3;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "/params/conv9.weight", H5T_NATIVE_FLOAT, space, H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(space);
  });
  BOOST_TEST(m.find("unexpected dataset /params/conv9.weight") != std::string::npos, m);

  m = damaged("shape.h5", [](hid_t f) {
    H5Ldelete(f, "/params/fc.bias", H5P_DEFAULT);
    hsize_t n = 11;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    H5Dclose(H5Dcreate2(f, "/params/fc.bias", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(space);
  });
  BOOST_TEST(m.find("/params/fc.bias has shape [11], the model needs [10]") != std::string::npos,
             m);

  m = damaged("dtype.h5", [](hid_t f) {
    H5Ldelete(f, "/params/fc.bias", H5P_DEFAULT);
    hsize_t n = 10;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    H5Dclose(H5Dcreate2(f, "/params/fc.bias", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(space);
  });
  BOOST_TEST(m.find("/params/fc.bias is f64, expected f32") != std::string::npos, m);

  m = damaged("version.h5", [](hid_t f) {
    double v = 99;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
  });
  BOOST_TEST(m.find("format version 99") != std::string::npos, m);

  ModelConfig other = tiny_config();
  other.width = 0.5;
  Model wider = build_model(other);
  m = error_of([&] { load_checkpoint_tensors(good, wider, v, false); });
  BOOST_TEST(m.find("holds another model than the one requested; width 0.25 here, 0.5 wanted") !=
                 std::string::npos,
             m);

  // A corrupted file can make libhdf5 loop for ever; the probing child is then killed at its
  // time limit. A limit far below any real read stands in for such a file here.
  set_hdf5_probe_time_limit(1e-6);
  m = error_of([&] { load(good); });
  set_hdf5_probe_time_limit(0);
  BOOST_TEST(m.find("'" + good + "' made the HDF5 library hang: reading it took more than") !=
                 std::string::npos,
             m);
  BOOST_TEST(error_of([&] { load(good); }).empty());
  BOOST_TEST(same_bytes(v.get("conv3.weight"), s.trainer->variables().get("conv3.weight")));
}

BOOST_AUTO_TEST_CASE(killing_a_writer_never_destroys_the_last_checkpoint) {
  TempDir dir;
  std::string path = dir.file("last.h5");
  Saved s;
  save_trained(s, path, data128());
  for (int trial = 0; trial < 6; ++trial) {
    pid_t child = fork();
    if (child == 0) {
      // Rewrite the checkpoint forever with increasing epochs until killed.
      RunState state = s.state;
      for (;;) {
        ++state.epoch;
        save_checkpoint(path, s.model, s.trainer->variables(), state);
      }
    }
    ::usleep(static_cast<useconds_t>(20000 + 37000 * trial));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    BOOST_TEST(WIFSIGNALED(status));
    Model model = build_model(tiny_config());
    auto backend = make_backend("onednn");
    Variables v(*backend);
    BOOST_TEST(error_of([&] { load_checkpoint_tensors(path, model, v, true); }).empty(),
               "trial " << trial);
    BOOST_TEST(same_bytes(v.get("conv3.weight"), s.trainer->variables().get("conv3.weight")));
    for (const auto& entry : fs::directory_iterator(dir.path))  // leftover temp files only
      BOOST_TEST((entry.path().filename() == "last.h5" ||
                  entry.path().filename().string().rfind("last.h5.tmp.", 0) == 0));
  }
}

BOOST_AUTO_TEST_CASE(h5py_reads_names_shapes_and_values) {
  TempDir dir;
  std::string path = dir.file("py.h5");
  Saved s;
  save_trained(s, path, data128());
  // The script checks PyTorch names and OIHW shapes, and prints chosen values for us to compare.
  std::string script = dir.file("check.py");
  std::ofstream(script) << R"(import h5py, sys
f = h5py.File(sys.argv[1], 'r')
assert f.attrs['format'] == b'advmoe-checkpoint' or f.attrs['format'] == 'advmoe-checkpoint', f.attrs['format']
p = f['params']
assert p['conv2.weight'].shape == (16, 8, 3, 3), p['conv2.weight'].shape
assert p['fc.weight'].shape == (10, 64), p['fc.weight'].shape
assert f['buffers']['bn1.running_var'].shape == (8,)
assert f['optimizer']['backbone']['momentum']['conv1.weight'].shape == (8, 1, 3, 3)
assert list(f['metrics'].dtype.names)[:2] == ['epoch', 'train_loss']
w = p['conv2.weight'][()]
print('%.9e %.9e %.9e' % (w[3, 5, 1, 2], p['fc.bias'][7], f['buffers']['bn2.running_mean'][4]))
)";
  std::string out_file = dir.file("out.txt");
  // Debian's interpreter, where python3-h5py is installed (a pyenv python3 may come first in PATH).
  int rc =
      std::system(("/usr/bin/python3 " + script + " " + path + " > " + out_file + " 2>&1").c_str());
  std::ifstream in(out_file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  BOOST_REQUIRE_MESSAGE(rc == 0, "h5py check failed: " << text);
  double w, b, m;
  BOOST_REQUIRE(std::sscanf(text.c_str(), "%lf %lf %lf", &w, &b, &m) == 3);
  const Variables& v = s.trainer->variables();
  // PyTorch [o=3, i=5, h=1, w=2] is our OHWI [3, 1, 2, 5].
  BOOST_TEST(w == v.get("conv2.weight").item(((3 * 3 + 1) * 3 + 2) * 8 + 5),
             boost::test_tools::tolerance(1e-7));
  BOOST_TEST(b == v.get("fc.bias").item(7), boost::test_tools::tolerance(1e-7));
  BOOST_TEST(m == v.get("bn2.running_mean").item(4), boost::test_tools::tolerance(1e-7));
}

BOOST_AUTO_TEST_SUITE_END()

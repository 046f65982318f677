// Tensor views, conversions and error messages.
#include <boost/test/unit_test.hpp>

#include "runtime/allocator.h"
#include "runtime/tensor.h"

using namespace advmoe;

BOOST_AUTO_TEST_SUITE(tensor)

BOOST_AUTO_TEST_CASE(zeros_are_aligned_and_zero) {
  Tensor t = Tensor::zeros(Shape{3, 5, 7}, DType::F32);
  BOOST_TEST(t.numel() == 105);
  BOOST_TEST(t.bytes() == 420u);
  BOOST_TEST(reinterpret_cast<uintptr_t>(t.raw()) % kHostAlignment == 0u);
  for (int64_t i = 0; i < t.numel(); ++i) BOOST_TEST(t.item(i) == 0.0);
}

BOOST_AUTO_TEST_CASE(reshape_shares_storage) {
  Tensor t = Tensor::zeros(Shape{2, 6}, DType::F32);
  Tensor r = t.reshape(Shape{3, 4});
  r.data<float>()[5] = 2.5f;
  BOOST_TEST(t.item(5) == 2.5);
  BOOST_CHECK_THROW(t.reshape(Shape{5}), Error);
}

BOOST_AUTO_TEST_CASE(views_at_offsets_and_bounds) {
  Tensor base = Tensor::zeros(Shape{16}, DType::F32);
  Tensor view(base.storage(), 8 * sizeof(float), Shape{2, 4}, DType::F32);
  view.fill(3.0);
  BOOST_TEST(base.item(7) == 0.0);
  BOOST_TEST(base.item(8) == 3.0);
  BOOST_TEST(base.item(15) == 3.0);
  BOOST_CHECK_THROW(Tensor(base.storage(), 12 * sizeof(float), Shape{8}, DType::F32), Error);
}

BOOST_AUTO_TEST_CASE(typed_access_is_checked) {
  Tensor t = Tensor::zeros(Shape{4}, DType::I32);
  BOOST_CHECK_THROW(t.data<float>(), Error);
  try {
    t.data<double>();
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("i32") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(copy_converts_between_float_types) {
  Tensor d = Tensor::zeros(Shape{3}, DType::F64);
  d.data<double>()[0] = 1.25;
  d.data<double>()[2] = -3.5;
  Tensor f = Tensor::zeros(Shape{3}, DType::F32);
  f.copy_from(d);
  BOOST_TEST(f.item(0) == 1.25);
  BOOST_TEST(f.item(2) == -3.5);
  BOOST_CHECK_THROW(f.copy_from(Tensor::zeros(Shape{4}, DType::F32)), Error);
}

BOOST_AUTO_TEST_SUITE_END()

// Philox-4x32-10 against the Random123 known-answer vectors, and the distributions built on it.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "runtime/philox.h"
#include "runtime/rng.h"

using namespace advmoe;

BOOST_AUTO_TEST_SUITE(rng)

// Known-answer tests from Random123's kat_vectors (philox4x32 10 rounds).
BOOST_AUTO_TEST_CASE(philox_known_answers) {
  Philox4x32 zero = philox4x32_10(Philox4x32{{0, 0, 0, 0}}, 0, 0);
  BOOST_TEST(zero.v[0] == 0x6627e8d5u);
  BOOST_TEST(zero.v[1] == 0xe169c58du);
  BOOST_TEST(zero.v[2] == 0xbc57ac4cu);
  BOOST_TEST(zero.v[3] == 0x9b00dbd8u);
  Philox4x32 ones = philox4x32_10(Philox4x32{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                                  0xffffffffu, 0xffffffffu);
  BOOST_TEST(ones.v[0] == 0x408f276du);
  BOOST_TEST(ones.v[1] == 0x41c83b0eu);
  BOOST_TEST(ones.v[2] == 0xa20bc7c6u);
  BOOST_TEST(ones.v[3] == 0x6d5451fdu);
  Philox4x32 pi = philox4x32_10(Philox4x32{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                0xa4093822u, 0x299f31d0u);
  BOOST_TEST(pi.v[0] == 0xd16cfe09u);
  BOOST_TEST(pi.v[1] == 0x94fdccebu);
  BOOST_TEST(pi.v[2] == 0x5001e420u);
  BOOST_TEST(pi.v[3] == 0x24126ea1u);
}

BOOST_AUTO_TEST_CASE(streams_are_deterministic_and_distinct) {
  RandomStream a(42, 7), b(42, 7), c(42, 8), d(43, 7);
  for (uint64_t i = 0; i < 100; ++i) BOOST_TEST(a.word(i) == b.word(i));
  int same_c = 0, same_d = 0;
  for (uint64_t i = 0; i < 100; ++i) {
    same_c += a.word(i) == c.word(i);
    same_d += a.word(i) == d.word(i);
  }
  BOOST_TEST(same_c < 3);
  BOOST_TEST(same_d < 3);
}

BOOST_AUTO_TEST_CASE(distribution_moments) {
  const int n = 200000;
  Tensor u = Tensor::zeros(Shape{n}, DType::F64), g = u.clone(), b = u.clone();
  RandomStream s(1, 2);
  s.fill_uniform(u, -2, 4);
  s.fill_normal(g, 1.5, 2.0);
  s.fill_bernoulli(b, 0.3);
  double su = 0, sg = 0, sg2 = 0, sb = 0, lo = 1e9, hi = -1e9;
  for (int i = 0; i < n; ++i) {
    su += u.item(i);
    lo = std::min(lo, u.item(i));
    hi = std::max(hi, u.item(i));
    sg += g.item(i);
    sg2 += g.item(i) * g.item(i);
    sb += b.item(i);
    BOOST_REQUIRE(b.item(i) == 0.0 || b.item(i) == 1.0);
  }
  BOOST_TEST(lo >= -2.0);
  BOOST_TEST(hi < 4.0);
  BOOST_TEST(std::abs(su / n - 1.0) < 0.02);
  double mean = sg / n, var = sg2 / n - mean * mean;
  BOOST_TEST(std::abs(mean - 1.5) < 0.02);
  BOOST_TEST(std::abs(var - 4.0) < 0.06);
  BOOST_TEST(std::abs(sb / n - 0.3) < 0.005);
}

BOOST_AUTO_TEST_CASE(fill_offset_continues_the_stream) {
  Tensor whole = Tensor::zeros(Shape{10}, DType::F32), tail = Tensor::zeros(Shape{4}, DType::F32);
  RandomStream s(9, 9);
  s.fill_normal(whole, 0, 1);
  s.fill_normal(tail, 0, 1, 6);
  for (int i = 0; i < 4; ++i) BOOST_TEST(tail.item(i) == whole.item(6 + i));
}

BOOST_AUTO_TEST_SUITE_END()

// The per-sample arithmetic of the evaluation attacks (AutoAttack's losses, APGD's step, FAB's
// projection), written once for the host loops and the CUDA kernels (plain C++ callable from .cu
// files, like runtime/philox.h), so both backends compute the same numbers by construction.
// Everything accumulates in double. Formulas: graph/attrs.h (SampleLossAttrs, ApgdStepAttrs,
// FabStepAttrs).
#pragma once

#include <cmath>
#include <cstdint>

#include "graph/attrs.h"
#include "runtime/philox.h"  // ADVMOE_HOST_DEVICE

namespace advmoe::attack_math {

template <typename T>
ADVMOE_HOST_DEVICE inline T clamp_value(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// The indices of the four largest logits, ordered by value and, on ties, by index (the first
// index wins, as a stable sort would put it), so ties give one well-defined answer.
struct TopFour {
  int64_t index[4] = {-1, -1, -1, -1};
};

template <typename T>
ADVMOE_HOST_DEVICE inline TopFour top_four(const T* z, int64_t k) {
  TopFour top;
  for (int64_t j = 0; j < k; ++j) {
    int slot = 4;
    while (slot > 0 && (top.index[slot - 1] < 0 || z[j] > z[top.index[slot - 1]])) --slot;
    if (slot == 4) continue;
    for (int s = 3; s > slot; --s) top.index[s] = top.index[s - 1];
    top.index[slot] = j;
  }
  return top;
}

// The first largest logit other than the label's.
template <typename T>
ADVMOE_HOST_DEVICE inline int64_t best_other(const T* z, int64_t k, int64_t label) {
  int64_t best = -1;
  for (int64_t j = 0; j < k; ++j)
    if (j != label && (best < 0 || z[j] > z[best])) best = j;
  return best;
}

// The loss of one row of logits; with `grad` (k entries, overwritten) also d loss / d z times
// `scale`. `target` is read by the targeted kinds only.
template <typename T, typename G = double>
ADVMOE_HOST_DEVICE inline double sample_loss_row(SampleLossAttrs::Kind kind, const T* z, int64_t k,
                                                 int64_t label, int64_t target, G* grad,
                                                 double scale) {
  if (grad)
    for (int64_t j = 0; j < k; ++j) grad[j] = 0;
  if (kind == SampleLossAttrs::CrossEntropy) {
    double m = z[0];
    for (int64_t j = 1; j < k; ++j) m = m > z[j] ? m : static_cast<double>(z[j]);
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += exp(static_cast<double>(z[j]) - m);
    const double lse = m + log(s);
    if (grad)
      for (int64_t j = 0; j < k; ++j)
        grad[j] =
            static_cast<G>(scale * (exp(static_cast<double>(z[j]) - lse) - (j == label ? 1 : 0)));
    return lse - z[label];
  }
  if (kind == SampleLossAttrs::TargetMargin) {
    if (grad) {
      grad[label] += static_cast<G>(scale);
      grad[target] -= static_cast<G>(scale);
    }
    return static_cast<double>(z[label]) - z[target];
  }
  const TopFour top = top_four(z, k);
  // numerator: how far the attack is from (DLR) any other class / (targeted) the target
  const int64_t rival = kind == SampleLossAttrs::Dlr ? best_other(z, k, label) : target;
  const double numerator = static_cast<double>(z[rival]) - z[label];
  double denominator = static_cast<double>(z[top.index[0]]) + 1e-12;
  if (kind == SampleLossAttrs::Dlr)
    denominator -= z[top.index[2]];
  else
    denominator -= 0.5 * (static_cast<double>(z[top.index[2]]) + z[top.index[3]]);
  const double loss = numerator / denominator;
  if (grad) {
    const double inv = scale / denominator, q = scale * loss / denominator;
    // Indices may coincide (the label can be the top logit): contributions add.
    grad[rival] += static_cast<G>(inv);
    grad[label] -= static_cast<G>(inv);
    grad[top.index[0]] -= static_cast<G>(q);
    if (kind == SampleLossAttrs::Dlr) {
      grad[top.index[2]] += static_cast<G>(q);
    } else {
      grad[top.index[2]] += static_cast<G>(0.5 * q);
      grad[top.index[3]] += static_cast<G>(0.5 * q);
    }
  }
  return loss;
}

// ---- APGD -------------------------------------------------------------------------------------

// One sample's APGD step over `per` elements (out may not alias the inputs). As AutoAttack's
// apgd: L2 divides by norm + 1e-12 and shrinks to min(eps, norm).
template <typename T>
ADVMOE_HOST_DEVICE inline void apgd_step_sample(const T* x, const T* x_prev, const T* x0,
                                                const T* g, T* out, int64_t per, double eps,
                                                double eta, double alpha, bool l2) {
  if (!l2) {
    for (int64_t i = 0; i < per; ++i) {
      const double sign = g[i] > 0 ? 1.0 : (g[i] < 0 ? -1.0 : 0.0);
      double z = clamp_value(static_cast<double>(x[i]) + eta * sign, x0[i] - eps, x0[i] + eps);
      z = clamp_value(z, 0.0, 1.0);
      double next =
          x[i] + alpha * (z - x[i]) + (1 - alpha) * (static_cast<double>(x[i]) - x_prev[i]);
      next = clamp_value(next, x0[i] - eps, x0[i] + eps);
      out[i] = static_cast<T>(clamp_value(next, 0.0, 1.0));
    }
    return;
  }
  double g_norm = 0;
  for (int64_t i = 0; i < per; ++i) g_norm += static_cast<double>(g[i]) * g[i];
  const double step = eta / (sqrt(g_norm) + 1e-12);
  double u_norm = 0;  // |x + step g - x0|
  for (int64_t i = 0; i < per; ++i) {
    const double d = x[i] + step * g[i] - x0[i];
    u_norm += d * d;
  }
  u_norm = sqrt(u_norm);
  const double shrink_u = (u_norm < eps ? u_norm : eps) / (u_norm + 1e-12);
  double v_norm = 0;  // |x'' - x0| with x'' the momentum combination
  for (int64_t i = 0; i < per; ++i) {
    const double z = clamp_value(x0[i] + (x[i] + step * g[i] - x0[i]) * shrink_u, 0.0, 1.0);
    const double next =
        x[i] + alpha * (z - x[i]) + (1 - alpha) * (static_cast<double>(x[i]) - x_prev[i]);
    out[i] = static_cast<T>(next);
    v_norm += (next - x0[i]) * (next - x0[i]);
  }
  v_norm = sqrt(v_norm);
  const double shrink_v = (v_norm < eps ? v_norm : eps) / (v_norm + 1e-12);
  for (int64_t i = 0; i < per; ++i)
    out[i] = static_cast<T>(clamp_value(x0[i] + (out[i] - x0[i]) * shrink_v, 0.0, 1.0));
}

// ---- FAB --------------------------------------------------------------------------------------

// The direction of the minimal-norm step: w itself (L2) or sign(w) (L-inf).
template <typename T>
ADVMOE_HOST_DEVICE inline double fab_direction(T w, bool l2) {
  return l2 ? static_cast<double>(w) : (w > 0 ? 1.0 : (w < 0 ? -1.0 : 0.0));
}

// sum_i w_i clip(s v_i, -p_i, 1 - p_i): what the step d(s) = clip(s v, box) moves w . z by.
// It is nondecreasing in s, so the minimal-norm d with w . d = c is d(s*) for the s* solving it.
template <typename T>
ADVMOE_HOST_DEVICE inline double fab_reach(const T* p, const T* w, int64_t per, double s, bool l2) {
  double total = 0;
  for (int64_t i = 0; i < per; ++i)
    total += w[i] * clamp_value(s * fab_direction(w[i], l2), -static_cast<double>(p[i]),
                                1.0 - static_cast<double>(p[i]));
  return total;
}

// The s of the minimal-norm step from p onto {z : w . z = w . p + c} inside [0, 1]^per (KKT: the
// step is clip(s v, box) for both norms). Where the box cannot reach the plane, the s that gets
// closest (every coordinate at its bound). Doubling from the unconstrained solution brackets s*,
// then bisection and a final interpolation.
template <typename T>
ADVMOE_HOST_DEVICE inline double fab_solve(const T* p, const T* w, int64_t per, double c, bool l2) {
  if (c == 0) return 0;
  const double sign = c > 0 ? 1.0 : -1.0, target = sign * c;
  double dual = 0, smallest = 0;  // |w|_2^2 (L2) or |w|_1 (L-inf); the smallest |v_i| > 0
  for (int64_t i = 0; i < per; ++i) {
    const double v = fabs(fab_direction(w[i], l2));
    dual += fabs(static_cast<double>(w[i])) * v;
    if (v > 0 && (smallest == 0 || v < smallest)) smallest = v;
  }
  if (dual == 0) return 0;                 // a zero gradient: no direction to step in
  const double saturate = 1.0 / smallest;  // beyond it every coordinate sits at its bound
  double lo = 0, hi = target / dual;       // clipping only shrinks the reach: reach(hi) <= c
  while (hi < saturate && sign * fab_reach(p, w, per, sign * hi, l2) < target) {
    lo = hi;
    hi *= 2;
  }
  if (hi >= saturate) {
    if (sign * fab_reach(p, w, per, sign * saturate, l2) < target) return sign * saturate;
    hi = saturate;
  }
  // reach is piecewise linear in s: bisect until the bracket is 2^-30 of its start, then
  // interpolate (exact once no coordinate saturates inside the bracket; within 2^-30 otherwise).
  double reach_lo = sign * fab_reach(p, w, per, sign * lo, l2);
  double reach_hi = sign * fab_reach(p, w, per, sign * hi, l2);
  for (int iteration = 0; iteration < 30; ++iteration) {
    const double mid = 0.5 * (lo + hi), reach_mid = sign * fab_reach(p, w, per, sign * mid, l2);
    if (reach_mid < target) {
      lo = mid;
      reach_lo = reach_mid;
    } else {
      hi = mid;
      reach_hi = reach_mid;
    }
  }
  const double s =
      reach_hi > reach_lo ? lo + (hi - lo) * (target - reach_lo) / (reach_hi - reach_lo) : hi;
  return sign * s;
}

template <typename T>
ADVMOE_HOST_DEVICE inline double fab_step_norm(const T* p, const T* w, int64_t per, double s,
                                               bool l2) {
  double norm = 0;
  for (int64_t i = 0; i < per; ++i) {
    const double d = clamp_value(s * fab_direction(w[i], l2), -static_cast<double>(p[i]),
                                 1.0 - static_cast<double>(p[i]));
    norm = l2 ? norm + d * d : (fabs(d) > norm ? fabs(d) : norm);
  }
  return l2 ? sqrt(norm) : norm;
}

// One sample's FAB step (FabStepAttrs); f = z_y - z_t at x, w its gradient.
template <typename T>
ADVMOE_HOST_DEVICE inline void fab_step_sample(const T* x, const T* x0, const T* w, double f,
                                               T* out, int64_t per, const FabStepAttrs& a) {
  // The boundary's linearization at x: w . z = w . x - f. From x the step must move w . z by -f,
  // from x0 by w . (x - x0) - f.
  double toward_x0 = -f;
  for (int64_t i = 0; i < per; ++i) toward_x0 += static_cast<double>(w[i]) * (x[i] - x0[i]);
  const double s1 = fab_solve(x, w, per, -f, a.l2), s2 = fab_solve(x0, w, per, toward_x0, a.l2);
  double a1 = fab_step_norm(x, w, per, s1, a.l2), a2 = fab_step_norm(x0, w, per, s2, a.l2);
  a1 = a1 > 1e-8 ? a1 : 1e-8;
  a2 = a2 > 1e-8 ? a2 : 1e-8;
  double bias = a1 / (a1 + a2);
  bias = bias < a.alpha_max ? bias : a.alpha_max;
  for (int64_t i = 0; i < per; ++i) {
    const double v = fab_direction(w[i], a.l2);
    const double d1 = clamp_value(s1 * v, -static_cast<double>(x[i]), 1.0 - x[i]);
    const double d2 = clamp_value(s2 * v, -static_cast<double>(x0[i]), 1.0 - x0[i]);
    const double next = (x[i] + a.eta * d1) * (1 - bias) + (x0[i] + a.eta * d2) * bias;
    out[i] = static_cast<T>(clamp_value(next, 0.0, 1.0));
  }
}

}  // namespace advmoe::attack_math

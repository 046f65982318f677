// The router/pathway analyses of the AdvMoE paper (docs/dissection.md), as pure functions of
// per-sample routes and predictions, so they are tested on hand-built cases:
//  - the four categories of an attack's effect on each sample (Figs. 3-5): (1) fooled neither the
//    routers nor the prediction, (2) the routers but not the prediction, (3) the prediction but
//    not the routers, (4) both; "routers fooled": the expert changed at one or more MoE layers,
//    "prediction fooled": the adversarial prediction is not the label. Router robustness is
//    (1) + (3), predictor robustness (1) + (2) (= robust accuracy);
//  - pathway IoU (Fig. 6): a sample's pathway is the set of active output channels of every MoE
//    layer (expert e of o channels: channels [e * o, (e + 1) * o)); IoU with another pathway or
//    with a Sparse-CNN's static mask is sum_l |A_l n B_l| / sum_l |A_l u B_l|.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace advmoe {

// One sample's routes (expert per MoE layer) and predictions, clean and adversarial.
struct SampleRoutes {
  int32_t label = 0, clean_prediction = 0, adversarial_prediction = 0;
  std::vector<int32_t> clean_routes, adversarial_routes;  // per MoE layer
};

struct DissectionCounts {
  int64_t samples = 0;
  int64_t category[4] = {0, 0, 0, 0};  // categories (1) .. (4)
  std::vector<int64_t> layer_changed;  // per layer: samples whose expert changed there
  double fraction(int c) const { return samples ? double(category[c]) / samples : 0; }
  double router_robustness() const { return fraction(0) + fraction(2); }
  double predictor_robustness() const { return fraction(0) + fraction(1); }
};

// 1-based category of one sample.
int dissection_category(const SampleRoutes& s);
DissectionCounts dissect(const std::vector<SampleRoutes>& samples, int64_t layers);

// Channels of one MoE layer a pathway uses: a list of channel indices.
using LayerChannels = std::vector<int64_t>;
// sum_l |a_l n b_l| / sum_l |a_l u b_l| over layers (1 when both are empty).
double pathway_iou(const std::vector<LayerChannels>& a, const std::vector<LayerChannels>& b);
// The channels expert `expert` of `width` channels uses: [expert * width, (expert + 1) * width).
LayerChannels expert_channels(int32_t expert, int64_t width);

// Mean, median and the share of values equal to 1, and a histogram on [0, 1] of `bins` bins (the
// last bin closed).
struct Summary {
  double mean = 0, median = 0, at_one = 0;
  std::vector<int64_t> histogram;
};
Summary summarize(const std::vector<double>& values, int bins = 20);

}  // namespace advmoe

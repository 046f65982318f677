// Eval-mode fusion: finds conv2d -> batch_norm [-> relu] and expert_conv -> channel_gate ->
// batch_norm [-> relu] chains among a Plan's live nodes that are safe to fold, then rewrites a
// copy of the graph (see eval_fusion.h for the math).
#include "compile/eval_fusion.h"

#include <algorithm>

#include "ops/batch_norm.h"
#include "ops/op_registry.h"

namespace advmoe {

namespace {

// One foldable chain, by node index in the original graph.
struct Chain {
  int conv = -1, batch_norm = -1, relu = -1;  // relu: -1 when not fused
  int gate = -1;                   // expert convs: the channel_gate between conv and batch norm
  std::vector<int> bn_backward;    // batch_norm_backward_data nodes of this batch norm
  std::vector<int> gate_backward;  // expert convs: channel_gate nodes gating their dx
  std::vector<int> conv_backward;  // conv2d_/expert_conv_backward_data nodes reading those
  std::vector<int> hoisted;        // nodes moved before the conv: they compute the fold's inputs
  int fold = -1;                   // the fold_batch_norm node, in the rewritten graph
};

class ChainFinder {
 public:
  ChainFinder(const Graph& g, const std::vector<int>& live)
      : g_(g),
        readers_(static_cast<size_t>(g.num_values())),
        position_(static_cast<size_t>(g.num_nodes()), -1) {
    for (size_t pos = 0; pos < live.size(); ++pos) {
      position_[static_cast<size_t>(live[pos])] = static_cast<int>(pos);
      for (ValueId v : g.node(live[pos]).inputs)
        readers_[static_cast<size_t>(v)].push_back(live[pos]);
    }
  }

  // The chain starting at conv node `conv`, or one with batch_norm == -1 when it cannot fold.
  Chain find(int conv) const {
    Chain chain;
    const Node& c = g_.node(conv);
    const bool expert = c.op == Op::ExpertConv;
    if (expert ? (c.inputs.size() != 3 || std::get<ExpertConvAttrs>(c.attrs).relu)
               : (c.op != Op::Conv2d || std::get<ConvAttrs>(c.attrs).relu))
      return chain;
    ValueId conv_out = c.outputs[0];
    if (g_.value(conv_out).persistent()) return chain;
    // A routed expert conv's only reader is its straight-through channel gate, which multiplies
    // by top1's gate: exactly 1 in forward (ops/moe.h), so dropping it changes no value. With the
    // gate's own gradient live (channel_gate_backward also reads the conv output) nothing folds.
    // Fixed routes (given as an input, forced) have no gate: the batch norm reads the conv.
    ValueId bn_in = conv_out;
    const std::vector<int>& conv_readers = readers(conv_out);
    if (expert && conv_readers.size() == 1 && g_.node(conv_readers[0]).op == Op::ChannelGate) {
      if (!is_unit_gate_of(conv_readers[0], conv_out)) return chain;
      chain.gate = conv_readers[0];
      bn_in = g_.node(chain.gate).outputs[0];
      if (g_.value(bn_in).persistent()) return chain;
    }

    // Readers of the batch norm's input: exactly one batch norm, plus its backward data nodes.
    int bn = -1;
    for (int r : readers(bn_in))
      if (g_.node(r).op == Op::BatchNorm) {
        if (bn >= 0) return chain;
        bn = r;
      }
    if (bn < 0) return chain;
    const Node& b = g_.node(bn);
    if (b.inputs[0] != bn_in) return chain;
    // gamma, beta and the running stats must be known when the conv runs, as the fold runs
    // right before it: persistent, or computed earlier (Sparse-CNN's masked gamma and beta).
    for (size_t i = 1; i < b.inputs.size(); ++i)
      if (!available_before(b.inputs[i], conv, chain.hoisted)) return chain;
    for (int r : readers(bn_in)) {
      if (r == bn) continue;
      if (!is_bn_backward_data_of(r, b)) return chain;
      chain.bn_backward.push_back(r);
    }
    // The statistics it saves are read only by those backward nodes (never by backward_params:
    // a gradient w.r.t. gamma or beta needs the unfolded activations).
    for (int k = 1; k <= 2; ++k) {
      if (g_.value(b.outputs[k]).persistent()) return chain;
      for (int r : readers(b.outputs[k]))
        if (!contains(chain.bn_backward, r)) return chain;
    }
    if (!collect_conv_backward(c, chain)) return chain;
    // The ReLU joins when it is the batch norm output's only reader.
    ValueId bn_out = b.outputs[0];
    const std::vector<int>& out_readers = readers(bn_out);
    if (!g_.value(bn_out).persistent() && out_readers.size() == 1 &&
        g_.node(out_readers[0]).op == Op::Relu)
      chain.relu = out_readers[0];
    chain.conv = conv;
    chain.batch_norm = bn;
    return chain;
  }

 private:
  const std::vector<int>& readers(ValueId v) const { return readers_[static_cast<size_t>(v)]; }
  static bool contains(const std::vector<int>& list, int x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  }
  // Whether `v` can be known before live node `node` runs: persistent, computed earlier, or
  // computed by a pure node (no in-place update) from such values, which then moves up to run
  // before `node`: Sparse-CNN masks gamma and beta right before its batch norm, after the conv.
  bool available_before(ValueId v, int node, std::vector<int>& hoisted, int depth = 0) const {
    const ValueInfo& info = g_.value(v);
    if (info.persistent()) return true;
    const int producer = info.producer, position = position_[static_cast<size_t>(producer)];
    if (position < 0) return false;
    if (position < position_[static_cast<size_t>(node)] || contains(hoisted, producer)) return true;
    const Node& n = g_.node(producer);
    if (depth >= 3 || !op_def(n.op).updates_inputs.empty()) return false;
    for (ValueId input : n.inputs)
      if (!available_before(input, node, hoisted, depth + 1)) return false;
    hoisted.push_back(producer);  // after the nodes it reads
    return true;
  }
  // Each backward data's result, the gradient w.r.t. the batch norm input, must feed only the
  // conv's backward data (no weight or bias gradient of this conv in the Plan); for a gated
  // expert conv it passes the gate's backward first, a channel_gate by the same gate. Fills
  // chain.gate_backward and chain.conv_backward; false when anything else reads those values.
  bool collect_conv_backward(const Node& c, Chain& chain) const {
    const bool expert = c.op == Op::ExpertConv;
    for (int r : chain.bn_backward) {
      ValueId dx = g_.node(r).outputs[0];
      if (g_.value(dx).persistent()) return false;
      std::vector<ValueId> conv_dy{dx};
      if (chain.gate >= 0) {
        conv_dy.clear();
        for (int d : readers(dx)) {
          const Node& n = g_.node(d);
          if (n.op != Op::ChannelGate || n.inputs[0] != dx ||
              n.inputs[1] != g_.node(chain.gate).inputs[1] || g_.value(n.outputs[0]).persistent())
            return false;
          chain.gate_backward.push_back(d);
          conv_dy.push_back(n.outputs[0]);
        }
      }
      const Op backward = expert ? Op::ExpertConvBackwardData : Op::Conv2dBackwardData;
      for (ValueId dy : conv_dy)
        for (int d : readers(dy)) {
          const Node& n = g_.node(d);
          if (n.op != backward || n.inputs[0] != dy || n.inputs[1] != c.inputs[1] ||
              (expert && n.inputs[2] != c.inputs[2]))
            return false;
          chain.conv_backward.push_back(d);
        }
    }
    return true;
  }
  // channel_gate(y, gate) with y = `conv_out` and the gate top1's second output (1 in forward).
  bool is_unit_gate_of(int r, ValueId conv_out) const {
    const Node& n = g_.node(r);
    if (n.op != Op::ChannelGate || n.inputs[0] != conv_out) return false;
    const ValueInfo& gate = g_.value(n.inputs[1]);
    return gate.producer >= 0 && g_.node(gate.producer).op == Op::Top1 &&
           g_.node(gate.producer).outputs[1] == n.inputs[1];
  }
  // batch_norm_backward_data(dy, x, gamma, saved_mean, saved_var) of batch norm `b`, reading
  // the conv output only as its x.
  bool is_bn_backward_data_of(int r, const Node& b) const {
    const Node& n = g_.node(r);
    return n.op == Op::BatchNormBackwardData && n.inputs[0] != b.inputs[0] &&
           n.inputs[1] == b.inputs[0] && n.inputs[2] == b.inputs[1] &&
           n.inputs[3] == b.outputs[1] && n.inputs[4] == b.outputs[2];
  }

  const Graph& g_;
  std::vector<std::vector<int>> readers_;  // by value: live nodes reading it (once per read)
  std::vector<int> position_;              // by node: place in the run order, -1 if not live
};

}  // namespace

EvalFusion fuse_eval_batch_norms(const Graph& graph, const std::vector<int>& live) {
  ChainFinder finder(graph, live);
  std::vector<Chain> chains;
  for (int i : live) {
    Chain chain = finder.find(i);
    if (chain.batch_norm >= 0) chains.push_back(chain);
  }
  EvalFusion result;
  if (chains.empty()) return result;

  result.graph = std::make_unique<Graph>(graph);
  Graph& g = *result.graph;
  // Nodes already in the run order; the dropped ones (batch norms, their backward data, fused
  // ReLUs) count as placed from the start.
  std::vector<bool> placed(static_cast<size_t>(graph.num_nodes()), false);
  std::vector<const Chain*> chain_of(static_cast<size_t>(graph.num_nodes()), nullptr);
  for (Chain& chain : chains) {
    const Node& bn = graph.node(chain.batch_norm);
    Node conv = graph.node(chain.conv);
    const bool expert = conv.op == Op::ExpertConv;
    auto val = [&](ValueId v) { return Val{&g, v}; };
    Val bias = !expert && conv.inputs.size() == 3 ? val(conv.inputs[2]) : Val{};
    std::vector<Val> folded = fold_batch_norm(
        val(conv.inputs[1]), val(bn.inputs[1]), val(bn.inputs[2]), val(bn.inputs[3]),
        val(bn.inputs[4]), bias, std::get<BatchNormAttrs>(bn.attrs), bn.name + "/folded");
    chain.fold = g.num_nodes() - 1;
    chain_of[static_cast<size_t>(chain.conv)] = &chain;

    ValueId out = chain.relu >= 0 ? graph.node(chain.relu).outputs[0] : bn.outputs[0];
    if (expert) {
      conv.inputs = {conv.inputs[0], folded[0].id, conv.inputs[2], folded[1].id};
      std::get<ExpertConvAttrs>(conv.attrs).relu = chain.relu >= 0;
    } else {
      conv.inputs = {conv.inputs[0], folded[0].id, folded[1].id};
      std::get<ConvAttrs>(conv.attrs).relu = chain.relu >= 0;
    }
    conv.outputs = {out};
    g.replace_node(chain.conv, conv);
    // dL/dx = conv_backward_data(dL/d(conv out), w) with dL/d(conv out) = dL/d(bn out) * s
    // equals conv_backward_data(dL/d(bn out), w * s). dL/d(conv out) is the output of one of the
    // batch norm's backward data nodes (for an expert conv, gated by 1 after it), whose dy takes
    // its place.
    for (int d : chain.conv_backward) {
      Node backward = graph.node(d);
      ValueId d_bn_in = backward.inputs[0];
      if (chain.gate >= 0) d_bn_in = graph.node(graph.value(d_bn_in).producer).inputs[0];
      const Node& bn_backward = graph.node(graph.value(d_bn_in).producer);
      backward.inputs[0] = bn_backward.inputs[0];
      backward.inputs[1] = folded[0].id;
      g.replace_node(d, backward);
    }
    placed[static_cast<size_t>(chain.batch_norm)] = true;
    for (int r : chain.bn_backward) placed[static_cast<size_t>(r)] = true;
    if (chain.gate >= 0) placed[static_cast<size_t>(chain.gate)] = true;
    for (int r : chain.gate_backward) placed[static_cast<size_t>(r)] = true;
    if (chain.relu >= 0) {
      placed[static_cast<size_t>(chain.relu)] = true;
      ++result.fused_relus;
    }
    ++result.folded_batch_norms;
  }
  // The fold runs right before its conv, where the weights (perhaps computed: a masked or sliced
  // weight) and the batch norm's parameters are known.
  auto place = [&](int i) {
    if (!placed[static_cast<size_t>(i)]) result.nodes.push_back(i);
    placed[static_cast<size_t>(i)] = true;
  };
  for (int i : live) {
    if (const Chain* chain = chain_of[static_cast<size_t>(i)]) {
      for (int h : chain->hoisted) place(h);
      result.nodes.push_back(chain->fold);
    }
    place(i);
  }
  return result;
}

}  // namespace advmoe

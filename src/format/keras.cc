#include "format/keras.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/hdf5.h"
#include "format/zip.h"
#include "io/file_util.h"

namespace tfckpt::keras {
namespace {

using Json = nlohmann::json;

constexpr char kWeightsMember[] = "model.weights.h5";
constexpr int64_t kMaxJsonMember = int64_t{64} << 20;  // config.json and metadata.json
constexpr size_t kMaxAssets = 100000;                  // files under a directory's assets/

// Keras' snake case of a class name: "BatchNormalization" -> "batch_normalization",
// "Conv2DTranspose" -> "conv2d_transpose", "LSTM" -> "lstm".
std::string SnakeCase(const std::string& name) {
  std::string s;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') s += c;
  }
  // An upper-case letter followed by lower-case ones starts a word (after the first character).
  std::string a;
  for (size_t i = 0; i < s.size(); i++) {
    if (i > 0 && std::isupper(static_cast<unsigned char>(s[i])) && i + 1 < s.size() &&
        std::islower(static_cast<unsigned char>(s[i + 1]))) {
      a += '_';
    }
    a += s[i];
  }
  // A lower-case letter followed by an upper-case one.
  std::string b;
  for (size_t i = 0; i < a.size(); i++) {
    b += static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
    if (std::islower(static_cast<unsigned char>(a[i])) && i + 1 < a.size() &&
        std::isupper(static_cast<unsigned char>(a[i + 1]))) {
      b += '_';
    }
  }
  return b;
}

// "dense_12" -> "dense"; "dense" -> "dense".
std::string StripCounter(const std::string& segment) {
  const size_t u = segment.rfind('_');
  if (u == std::string::npos || u + 1 == segment.size()) return segment;
  for (size_t i = u + 1; i < segment.size(); i++) {
    if (!std::isdigit(static_cast<unsigned char>(segment[i]))) return segment;
  }
  return segment.substr(0, u);
}

bool ConfigFlag(const Json* config, const char* key, bool fallback) {
  if (config == nullptr || !config->is_object()) return fallback;
  auto it = config->find(key);
  return it != config->end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// The names and trainability of a layer's variables, in the order Keras saves them (trainable
// ones first, each in creation order), for the classes whose order is known; empty otherwise.
struct VarSpec {
  std::string name;
  bool trainable = true;
};
std::vector<VarSpec> KnownVariables(const std::string& cls, const Json* config, size_t count) {
  auto names = [](std::initializer_list<const char*> list) {
    std::vector<VarSpec> v;
    for (const char* n : list) v.push_back({n, true});
    return v;
  };
  static const std::set<std::string> kKernelBias = {"dense",
                                                    "einsum_dense",
                                                    "conv1d",
                                                    "conv2d",
                                                    "conv3d",
                                                    "conv1d_transpose",
                                                    "conv2d_transpose",
                                                    "conv3d_transpose",
                                                    "depthwise_conv1d",
                                                    "depthwise_conv2d"};
  if (kKernelBias.count(cls)) {
    // (A quantized layer keeps scales beside its kernel: its integer values are caught by the
    // caller, and the config's use_bias must agree with the count.)
    const bool bias = ConfigFlag(config, "use_bias", count == 2);
    if (count == 2 && bias) return names({"kernel", "bias"});
    if (count == 1 && !bias) return names({"kernel"});
    return {};
  }
  if (cls == "separable_conv1d" || cls == "separable_conv2d") {
    if (count == 3) return names({"depthwise_kernel", "pointwise_kernel", "bias"});
    if (count == 2) return names({"depthwise_kernel", "pointwise_kernel"});
    return {};
  }
  if (cls == "embedding" && count == 1) return names({"embeddings"});
  if (cls == "lstm_cell" || cls == "gru_cell" || cls == "simple_rnn_cell") {
    if (count == 3) return names({"kernel", "recurrent_kernel", "bias"});
    if (count == 2) return names({"kernel", "recurrent_kernel"});
    return {};
  }
  if (cls == "batch_normalization") {
    const bool scale = ConfigFlag(config, "scale", count == 4);
    const bool center = ConfigFlag(config, "center", count == 4);
    if (count == 3 && config == nullptr) return {};  // center or scale: config.json says which
    std::vector<VarSpec> v;
    if (scale) v.push_back({"gamma", true});
    if (center) v.push_back({"beta", true});
    v.push_back({"moving_mean", false});
    v.push_back({"moving_variance", false});
    if (v.size() != count) return {};
    return v;
  }
  if (cls == "layer_normalization") {
    if (count == 2 && config == nullptr) return names({"gamma", "beta"});
    if (config == nullptr) return {};
    std::vector<VarSpec> v;
    if (ConfigFlag(config, "scale", true)) v.push_back({"gamma", true});
    if (ConfigFlag(config, "center", true)) v.push_back({"beta", true});
    if (v.size() != count) return {};
    return v;
  }
  return {};
}

// The sub-objects of known classes, in the order the layer tracks them (its `_layers`).
std::vector<std::string> KnownChildOrder(const std::string& cls) {
  if (cls == "multi_head_attention") {
    return {"query_dense", "key_dense", "value_dense", "output_dense"};
  }
  if (cls == "lstm" || cls == "gru" || cls == "simple_rnn") return {"cell"};
  return {};
}

// The name Keras gives a sub-object that files before Keras 3.6 do not record.
std::string DefaultAttributeName(const std::string& attribute, const std::string& parent_cls) {
  if (attribute == "cell") return parent_cls + "_cell";
  if (attribute == "query_dense") return "query";
  if (attribute == "key_dense") return "key";
  if (attribute == "value_dense") return "value";
  if (attribute == "output_dense") return "attention_output";
  return attribute;
}

// One saveable object of the weights file: a group holding a `vars` group.
struct Object {
  std::string path;              // "layers/dense"; "" for the model itself
  std::string name;              // the layer's name
  std::string cls;               // snake-case class, "" when unknown
  const Json* config = nullptr;  // the layer's config (its "config" member)
  bool trainable = true;         // from config
  const hdf5::Node* vars = nullptr;
  std::vector<const hdf5::Node*> datasets;  // vars' datasets in numeric order
  std::vector<Object*> children;            // sub-objects in tracking order, where known
  bool children_ordered = true;
  std::vector<std::string> names;  // the variables' full names, filled by Name
  std::vector<bool> trainable_vars;
  bool positional = false;  // its variables are named by position (their class is not known)
  bool quantized = false;   // it holds integer values: a quantized layer
};

// A weight from its dataset: dtype (bfloat16 as Keras marks it), shape and where its values lie.
Variable FromDataset(const hdf5::Node& node, std::string name, std::string dataset_path,
                     std::string object_path) {
  const hdf5::Dataset& d = node.dataset;
  Variable v;
  v.name = std::move(name);
  v.dataset_path = std::move(dataset_path);
  v.object_path = std::move(object_path);
  v.dtype = d.dtype;
  v.shape = d.shape;
  v.unsupported = d.unsupported;
  // bfloat16: h5py has no such type; Keras stores 2-byte opaque values marked "bfloat16".
  const hdf5::Attribute* marked = node.FindAttribute("dtype");
  if (marked && marked->kind == hdf5::Attribute::Kind::kStrings && marked->strings.size() == 1 &&
      marked->strings[0] == "bfloat16" && d.element_size == 2 && d.dtype == DType::kInvalid) {
    v.dtype = DType::kBFloat16;
  }
  if (v.unsupported.empty() && v.dtype == DType::kInvalid) {
    v.unsupported = fmt::format("it holds {}, which have no TensorFlow dtype", d.type_note);
  }
  if (v.unsupported.empty() && d.big_endian && d.element_size > 1) {
    v.unsupported = "its values are big-endian";
  }
  if (d.compact) {
    v.compact = d.compact_bytes;
  } else {
    v.offset = d.offset;
  }
  v.file = d.file;
  v.size = d.size;
  return v;
}

// Names that collide (two objects of one name) fall back to their dataset paths; then sorted.
Status Finish(const std::string& file, std::vector<Variable>* out) {
  std::map<std::string, int> count;
  for (const Variable& v : *out) count[v.name]++;
  for (Variable& v : *out) {
    if (count[v.name] > 1) v.name = v.dataset_path;
  }
  std::sort(out->begin(), out->end(),
            [](const Variable& a, const Variable& b) { return a.name < b.name; });
  for (size_t i = 1; i < out->size(); i++) {
    if ((*out)[i].name == (*out)[i - 1].name) {
      return Status::Corruption(
          fmt::format("'{}' holds two weights at '{}'", file, (*out)[i].name));
    }
  }
  return Status::OK();
}

class Namer {
 public:
  Namer(const hdf5::Node& root, const Json* model_config, const Json* compile_config,
        const std::string& keras_version, const std::string& file)
      : root_(root), model_config_(model_config), compile_config_(compile_config), file_(file) {
    // Versions whose optimizers are known to create each variable's slots together.
    int major = 0, minor = 0;
    interleaves_ = std::sscanf(keras_version.c_str(), "%d.%d", &major, &minor) == 2 &&
                   (major > 3 || (major == 3 && minor >= 15));
  }

  // Names the variables into `out`; fills `legacy` (when given) with the legacy layout.
  Status Run(std::vector<Variable>* out, LegacyLayout* legacy = nullptr) {
    Object model;
    model.path = "";
    model.config = ConfigOf(model_config_);
    Collect(root_, "", &model, ClassOf(model_config_), model_config_, 0);
    model.name = NameAttribute(model.vars);
    if (model.name.empty() && model.config) model.name = StringField(*model.config, "name");
    if (model.name.empty()) model.name = "model";
    // The model's own variables keep its name; layers start a fresh chain (the layer name
    // first).
    NameObject(&model, {model.name});
    for (Object* layer : layers_) NameTree(layer, {});
    NameOptimizer(&model);
    for (auto& o : objects_) Emit(*o, out);
    Emit(model, out);
    if (legacy != nullptr) {
      *legacy = LegacyLayout();
      if (std::string problem = Legacy(model, legacy); !problem.empty()) {
        *legacy = LegacyLayout();
        legacy->problem = std::move(problem);
      }
    }
    return Finish(file_, out);
  }

 private:
  static const Json* ConfigOf(const Json* entry) {
    if (entry == nullptr || !entry->is_object()) return nullptr;
    auto it = entry->find("config");
    return it != entry->end() && it->is_object() ? &*it : nullptr;
  }
  static std::string StringField(const Json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  static std::string ClassOf(const Json* entry) {
    if (entry == nullptr || !entry->is_object()) return "";
    const std::string cls = StringField(*entry, "class_name");
    return cls.empty() ? "" : SnakeCase(cls);
  }
  static std::string NameAttribute(const hdf5::Node* vars) {
    if (vars == nullptr) return "";
    const hdf5::Attribute* a = vars->FindAttribute("name");
    if (a == nullptr || a->kind != hdf5::Attribute::Kind::kStrings || a->strings.size() != 1) {
      return "";
    }
    return a->strings[0];
  }

  // The layer configs of a model config's "layers" list, keyed by the structural name Keras
  // gives each in its "layers" container (class in snake case, a counter from the second on).
  static std::map<std::string, const Json*> StructuralNames(const Json* config,
                                                            std::vector<std::string>* order) {
    std::map<std::string, const Json*> out;
    if (config == nullptr) return out;
    auto it = config->find("layers");
    if (it == config->end() || !it->is_array()) return out;
    std::map<std::string, int> used;
    for (const Json& layer : *it) {
      std::string name = ClassOf(&layer);
      if (name.empty()) continue;
      auto u = used.find(name);
      if (u != used.end()) {
        name = fmt::format("{}_{}", name, ++u->second);
      } else {
        used[name] = 0;
      }
      if (!out.emplace(name, &layer).second) {  // (a class named like a counted one)
        if (order) order->clear();
        return {};
      }
      if (order) order->push_back(name);
    }
    return out;
  }

  // Fills `object` (at hdf5 node `node`) and, depth first, the objects below it.
  void Collect(const hdf5::Node& node, const std::string& path, Object* object,
               const std::string& cls, const Json* entry, int depth) {
    object->cls = cls;
    object->config = ConfigOf(entry);
    object->trainable = ConfigFlag(object->config, "trainable", true);
    if (const hdf5::Node* vars = node.Child("vars"); vars != nullptr && vars->group) {
      object->vars = vars;
      for (const hdf5::Node& d : vars->children) {
        if (!d.group) object->datasets.push_back(&d);
      }
      std::sort(object->datasets.begin(), object->datasets.end(),
                [](const hdf5::Node* a, const hdf5::Node* b) {
                  if (a->name.size() != b->name.size()) return a->name.size() < b->name.size();
                  return a->name < b->name;
                });
    }
    if (depth > 32) return;
    std::vector<std::string> layer_order;
    const auto configs = StructuralNames(object->config, &layer_order);
    std::map<std::string, Object*> by_segment;
    for (const hdf5::Node& child : node.children) {
      if (!child.group || child.name == "vars" || (path.empty() && child.name == "optimizer")) {
        continue;
      }
      const std::string child_path = path.empty() ? child.name : path + "/" + child.name;
      if (child.name == "layers" || child.Child("vars") == nullptr) {
        // A container (a list of layers): its members are objects.
        for (const hdf5::Node& member : child.children) {
          if (!member.group || member.Child("vars") == nullptr) continue;
          auto it = configs.find(member.name);
          const Json* member_entry =
              child.name == "layers" && it != configs.end() ? it->second : nullptr;
          const std::string member_cls =
              member_entry ? ClassOf(member_entry) : StripCounter(member.name);
          auto o = std::make_unique<Object>();
          o->path = child_path + "/" + member.name;
          Object* raw = o.get();
          objects_.push_back(std::move(o));
          Collect(member, raw->path, raw, member_cls, member_entry, depth + 1);
          raw->name = NameAttribute(raw->vars);
          if (raw->name.empty() && raw->config) raw->name = StringField(*raw->config, "name");
          if (raw->name.empty()) raw->name = member.name;
          if (child.name == "layers") by_segment[member.name] = raw;
          if (path.empty()) layers_.push_back(raw);
          if (child.name != "layers") object->children_ordered = false;
          object->children.push_back(raw);
        }
        continue;
      }
      // An attribute holding one object (an RNN's cell, an attention layer's projections).
      auto o = std::make_unique<Object>();
      o->path = child_path;
      Object* raw = o.get();
      objects_.push_back(std::move(o));
      std::string child_cls = child.name == "cell" ? cls + "_cell" : "";
      if (child.name.size() > 6 && child.name.ends_with("_dense") &&
          cls == "multi_head_attention") {
        child_cls = "einsum_dense";
      }
      Collect(child, child_path, raw, child_cls, nullptr, depth + 1);
      raw->name = NameAttribute(raw->vars);
      if (raw->name.empty()) raw->name = DefaultAttributeName(child.name, cls);
      by_segment[child.name] = raw;
      if (path.empty()) layers_.push_back(raw);
      object->children.push_back(raw);
    }
    // Tracking order: the config's layer list, else the class's known order.
    std::vector<Object*> ordered;
    std::vector<std::string> order =
        layer_order.empty() ? KnownChildOrder(cls) : std::move(layer_order);
    for (const std::string& segment : order) {
      auto it = by_segment.find(segment);
      if (it != by_segment.end()) ordered.push_back(it->second);
    }
    // Objects without variables in them or below do not count for the order.
    size_t with_vars = 0;
    for (Object* c : object->children) with_vars += HasVariables(*c) ? 1 : 0;
    size_t ordered_with_vars = 0;
    for (Object* c : ordered) ordered_with_vars += HasVariables(*c) ? 1 : 0;
    if (ordered_with_vars != with_vars) {
      object->children_ordered = false;
    } else {
      object->children = ordered;
    }
  }

  static bool HasVariables(const Object& o) {
    if (!o.datasets.empty()) return true;
    for (const Object* c : o.children) {
      if (HasVariables(*c)) return true;
    }
    return false;
  }

  void NameObject(Object* o, const std::vector<std::string>& chain) {
    std::string prefix;
    for (const std::string& part : chain) prefix += part + "/";
    // Integer values in a float layer: a quantized layer, whose variables are others.
    bool quantized = false;
    for (const hdf5::Node* d : o->datasets) {
      const DType t = d->dataset.dtype;
      quantized = quantized || (t != DType::kInvalid && t != DType::kHalf && t != DType::kFloat &&
                                t != DType::kDouble);
    }
    const std::vector<VarSpec> known =
        quantized ? std::vector<VarSpec>() : KnownVariables(o->cls, o->config, o->datasets.size());
    o->positional = known.empty() && !o->datasets.empty();
    o->quantized = quantized;
    for (size_t i = 0; i < o->datasets.size(); i++) {
      if (!known.empty()) {
        o->names.push_back(prefix + known[i].name);
        o->trainable_vars.push_back(known[i].trainable && o->trainable);
      } else {
        o->names.push_back(prefix + "vars/" + o->datasets[i]->name);
        o->trainable_vars.push_back(o->trainable);
        all_known_ = false;
      }
    }
  }

  void NameTree(Object* o, std::vector<std::string> chain) {
    chain.push_back(o->name);
    NameObject(o, chain);
    for (Object* c : o->children) NameTree(c, chain);
  }

  // The trainable variables in the order the model lists them (its `trainable_variables`):
  // the object's own, then its sub-objects' in tracking order.
  bool TrainableOrder(const Object& o, std::vector<const Object*>* owners,
                      std::vector<size_t>* index) const {
    for (size_t i = 0; i < o.datasets.size(); i++) {
      if (o.trainable_vars[i]) {
        owners->push_back(&o);
        index->push_back(i);
      }
    }
    for (const Object* c : o.children) {
      if (!HasVariables(*c)) continue;
      if (!o.children_ordered) return false;
      if (!TrainableOrder(*c, owners, index)) return false;
    }
    return true;
  }

  void NameOptimizer(Object* model) {
    const hdf5::Node* node = root_.Child("optimizer");
    if (node == nullptr || !node->group) return;
    auto o = std::make_unique<Object>();
    o->path = "optimizer";
    Collect(*node, "optimizer", o.get(), "", nullptr, 1);
    o->name = NameAttribute(o->vars);
    const Json* opt = nullptr;
    if (compile_config_ && compile_config_->is_object()) {
      auto it = compile_config_->find("optimizer");
      if (it != compile_config_->end() && it->is_object()) opt = &*it;
    }
    const Json* opt_config = ConfigOf(opt);
    if (o->name.empty() && opt_config) o->name = StringField(*opt_config, "name");
    if (o->name.empty()) o->name = "optimizer";
    const std::string prefix = o->name + "/";
    for (Object* c : o->children) NameTree(c, {o->name});
    const auto& d = o->datasets;
    for (size_t i = 0; i < d.size(); i++) o->names.push_back(prefix + "vars/" + d[i]->name);
    o->trainable_vars.assign(d.size(), false);
    // The counters first: the iteration (an int64 scalar), then the learning rate (a float
    // scalar) unless a schedule gives it.
    size_t head = 0;
    if (!d.empty() && d[0]->dataset.shape.empty() && d[0]->dataset.dtype == DType::kInt64) {
      o->names[0] = prefix + "iteration";
      head = 1;
      if (d.size() > 1 && d[1]->dataset.shape.empty() && d[1]->dataset.dtype == DType::kFloat) {
        o->names[1] = prefix + "learning_rate";
        head = 2;
      }
    }
    // The slots: one set per trainable variable, interleaved, for the optimizers whose slots
    // are known, and checked against the variables' shapes.
    std::vector<std::string> slots;
    const std::string cls = ClassOf(opt);
    const bool extra = opt_config && (ConfigFlag(opt_config, "use_ema", false) ||
                                      (opt_config->contains("gradient_accumulation_steps") &&
                                       !(*opt_config)["gradient_accumulation_steps"].is_null()));
    // (amsgrad's velocity_hat come in a block after the others: left named by position.)
    if ((cls == "adam" || cls == "adam_w") && !ConfigFlag(opt_config, "amsgrad", false)) {
      slots = {"momentum", "velocity"};
    } else if (cls == "sgd") {
      auto it = opt_config ? opt_config->find("momentum") : Json::const_iterator();
      if (opt_config && it != opt_config->end() && it->is_number() && it->get<double>() != 0) {
        slots = {"momentum"};
      }
    }
    std::vector<const Object*> owners;
    std::vector<size_t> index;
    if (!slots.empty() && !extra && all_known_ && TrainableOrder(*model, &owners, &index) &&
        d.size() == head + owners.size() * slots.size()) {
      // Keras 3.15 creates each variable's slots together (interleaved); other Keras versions
      // have made all of one slot, then all of the next (blocked). The shapes decide; where
      // both orders fit them and differ, only a file of a version known to interleave is named.
      const size_t k = slots.size(), n = owners.size();
      auto at = [&](bool interleaved, size_t v, size_t s) {
        return head + (interleaved ? v * k + s : s * n + v);
      };
      auto fits = [&](bool interleaved) {
        for (size_t v = 0; v < n; v++) {
          for (size_t s = 0; s < k; s++) {
            if (d[at(interleaved, v, s)]->dataset.shape !=
                owners[v]->datasets[index[v]]->dataset.shape) {
              return false;
            }
          }
        }
        return true;
      };
      const bool interleaved = fits(true), blocked = fits(false);
      const bool same = k == 1 || n == 1;  // (then both orders are one)
      std::optional<bool> order;
      if (interleaved && (!blocked || same || interleaves_)) order = true;
      if (!interleaved && blocked) order = false;
      if (order) {
        for (size_t v = 0; v < n; v++) {
          std::string base = owners[v]->names[index[v]];
          std::replace(base.begin(), base.end(), '/', '_');
          for (size_t s = 0; s < k; s++)
            o->names[at(*order, v, s)] = prefix + base + "_" + slots[s];
        }
      }
    }
    objects_.push_back(std::move(o));
  }

  static std::string DatasetPath(const Object& o, size_t i) {
    return (o.path.empty() ? "" : o.path + "/") + "vars/" + o.datasets[i]->name;
  }

  // The weights of `o` and the objects below it in the order of Keras' `layer.weights` (its own,
  // then its sub-objects' in tracking order), each with whether it is trainable; an empty
  // string, else why that order is not known.
  std::string WeightsInOrder(const Object& o, bool enclosing_trainable,
                             std::vector<std::pair<std::string, bool>>* out) const {
    // (A class may save its variables in an order of its own: only known classes are laid out.)
    if (o.quantized) {
      return fmt::format(
          "layer '{}' is quantized, and the order of a quantized layer's weights in a legacy file "
          "is not known to tfckpt",
          o.name);
    }
    if (o.positional) {
      return fmt::format(
          "the order of the weights of '{}' ({}) in a legacy file is not known: tfckpt names "
          "them by position",
          o.name, o.cls.empty() ? std::string("a class tfckpt does not know") : o.cls);
    }
    if (o.config != nullptr && o.config->contains("lora_rank") &&
        !(*o.config)["lora_rank"].is_null()) {
      return fmt::format(
          "layer '{}' has LoRA weights, which a .keras file keeps merged into its kernel and a "
          "legacy file holds apart",
          o.name);
    }
    const bool trainable = enclosing_trainable && o.trainable;
    for (size_t i = 0; i < o.datasets.size(); i++) {
      out->emplace_back(DatasetPath(o, i), trainable && o.trainable_vars[i]);
    }
    for (const Object* c : o.children) {
      if (!HasVariables(*c)) continue;
      if (!o.children_ordered) {
        return fmt::format("the order in which layer '{}' tracks the layers inside it is not known",
                           o.name);
      }
      if (std::string why = WeightsInOrder(*c, trainable, out); !why.empty()) return why;
    }
    return "";
  }

  // The layout Keras' legacy writer gives the model (LegacyLayout); an empty string, else why it
  // is not known.
  std::string Legacy(const Object& model, LegacyLayout* legacy) const {
    const Json* config = ConfigOf(model_config_);
    const Json* layers = nullptr;
    if (config != nullptr) {
      auto it = config->find("layers");
      if (it != config->end() && it->is_array()) layers = &*it;
    }
    if (layers == nullptr) {
      return model_config_ == nullptr
                 ? "it has no config.json listing the model's layers, by whose order a legacy "
                   "file stores the weights (give the .keras file)"
                 : "its config.json lists no layers (a subclassed model), and a legacy file "
                   "stores the weights by the order of the model's layers";
    }
    const bool sequential = ClassOf(model_config_) == "sequential";
    for (size_t i = 0; i < layers->size(); i++) {
      const Json& entry = (*layers)[i];
      const Json* c = ConfigOf(&entry);
      std::string name = c ? StringField(*c, "name") : "";
      if (name.empty() && entry.is_object()) name = StringField(entry, "name");
      if (name.empty() || name.find('/') != std::string::npos) {
        return fmt::format("layer {} of its config.json has no name a legacy file can hold", i);
      }
      // (A Sequential model's `layers` leave out the input layer that starts it.)
      if (sequential && i == 0 && ClassOf(&entry) == "input_layer") continue;
      legacy->layer_names.push_back(name);
    }
    // A layer shared by a nested model and another model has its weights in one place of a
    // .keras file and in both of a legacy one.
    std::set<std::string> seen;
    std::string shared;
    std::function<void(const Json*, int)> walk = [&](const Json* cfg, int depth) {
      if (cfg == nullptr || depth > 32 || !shared.empty()) return;
      auto it = cfg->find("layers");
      if (it == cfg->end() || !it->is_array()) return;
      for (const Json& entry : *it) {
        const Json* c = ConfigOf(&entry);
        const std::string name = c ? StringField(*c, "name") : "";
        if (!name.empty() && !seen.insert(name).second) shared = name;
        walk(c, depth + 1);
      }
    };
    walk(config, 0);
    if (!shared.empty()) {
      return fmt::format(
          "layer '{}' is listed twice (a layer shared by a nested model and another), which a "
          "legacy file holds once in each place",
          shared);
    }
    std::map<std::string, const Object*> by_name;
    for (const Object* o : layers_) {
      if (!HasVariables(*o)) continue;
      if (o->path.rfind("layers/", 0) != 0 || !by_name.emplace(o->name, o).second ||
          std::find(legacy->layer_names.begin(), legacy->layer_names.end(), o->name) ==
              legacy->layer_names.end()) {
        return fmt::format("the weights at '{}' belong to no layer its config.json lists", o->path);
      }
    }
    for (const std::string& name : legacy->layer_names) {
      auto it = by_name.find(name);
      if (it == by_name.end()) continue;
      std::vector<std::pair<std::string, bool>> weights;
      if (std::string why = WeightsInOrder(*it->second, true, &weights); !why.empty()) {
        return why;
      }
      std::vector<std::string> ordered;
      for (bool trainable : {true, false}) {
        for (const auto& [path, t] : weights) {
          if (t == trainable) ordered.push_back(path);
        }
      }
      legacy->layers.emplace_back(name, std::move(ordered));
    }
    for (size_t i = 0; i < model.datasets.size(); i++)
      legacy->model.push_back(DatasetPath(model, i));
    for (const auto& o : objects_) {
      if (o->path != "optimizer") continue;
      for (const Object* c : o->children) {
        if (HasVariables(*c)) return "its optimizer holds another optimizer's state";
      }
      for (size_t i = 0; i < o->datasets.size(); i++)
        legacy->optimizer.push_back(DatasetPath(*o, i));
    }
    return "";
  }

  void Emit(const Object& o, std::vector<Variable>* out) const {
    const std::string base = (o.path.empty() ? "" : o.path + "/") + "vars/";
    for (size_t i = 0; i < o.datasets.size(); i++) {
      const hdf5::Node& node = *o.datasets[i];
      out->push_back(FromDataset(node, i < o.names.size() ? o.names[i] : base + node.name,
                                 base + node.name, o.path));
    }
  }

  const hdf5::Node& root_;
  const Json* model_config_;
  const Json* compile_config_;
  std::string file_;
  std::vector<std::unique_ptr<Object>> objects_;
  std::vector<Object*> layers_;  // the model's direct sub-objects
  bool all_known_ = true;
  bool interleaves_ = false;
};

// A string-list attribute as Keras' legacy writer stores it: whole (`layer_names`) or, when too
// large for one object header, split into `layer_names0`, `layer_names1`, ...
bool StringList(const hdf5::Node& node, const std::string& name, std::vector<std::string>* out) {
  out->clear();
  auto take = [&](const hdf5::Attribute* a) {
    if (a->kind == hdf5::Attribute::Kind::kStrings) {
      out->insert(out->end(), a->strings.begin(), a->strings.end());
      return true;
    }
    return a->kind == hdf5::Attribute::Kind::kNumbers && a->numbers.empty();  // (an empty list)
  };
  if (const hdf5::Attribute* a = node.FindAttribute(name)) return take(a);
  bool found = false;
  for (int i = 0;; i++) {
    const hdf5::Attribute* a = node.FindAttribute(name + std::to_string(i));
    if (a == nullptr) break;
    if (!take(a)) return false;
    found = true;
  }
  return found;
}

// The dataset at `path` ("d1/kernel:0") below `node`, or nullptr.
const hdf5::Node* Find(const hdf5::Node& node, const std::string& path) {
  const hdf5::Node* at = node.Descendant(path);
  return at != nullptr && !at->group ? at : nullptr;
}

std::string StripDeviceSuffix(std::string name) {  // "kernel:0" -> "kernel"
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && colon + 1 < name.size() &&
      name.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    name.resize(colon);
  }
  return name;
}

// A legacy HDF5 file (Keras 1 and 2, tf.keras, Keras 3's legacy writer): a list of layer
// names, each layer's group listing its weight names, each weight a dataset at its name.
Status ReadLegacy(const hdf5::Node& root, const std::string& file, const std::string& config,
                  std::vector<Variable>* out) {
  // h5py stores bfloat16 (an ml_dtypes type) as untagged 2-byte opaque values, which the legacy
  // writer does not mark: they are bfloat16 where the model's config uses that dtype.
  const bool bfloat16 = config.find("\"bfloat16\"") != std::string::npos;
  auto make = [&](const hdf5::Node& d, std::string name, std::string path, std::string object) {
    Variable v = FromDataset(d, std::move(name), std::move(path), std::move(object));
    if (bfloat16 && v.dtype == DType::kInvalid && d.dataset.element_size == 2 &&
        d.dataset.opaque_tag.empty() && !d.dataset.type_note.empty() &&
        d.dataset.type_note.find("opaque") != std::string::npos && d.dataset.unsupported.empty()) {
      v.dtype = DType::kBFloat16;
      v.unsupported.clear();
    }
    return v;
  };
  const hdf5::Node* weights = root.Child("model_weights");
  const hdf5::Node& layers_node = weights != nullptr ? *weights : root;
  const std::string base = weights != nullptr ? "model_weights/" : "";
  std::vector<std::string> layers;
  std::set<std::string> outer;  // scopes dropped from weight names ("seq/"), as "seq_"
  if (!StringList(layers_node, "layer_names", &layers)) {
    return Status::Corruption(fmt::format(
        "'{}' is a legacy Keras HDF5 file without a readable list of layers (`layer_names`)",
        file));
  }
  for (const std::string& layer : layers) {
    const hdf5::Node* group = layers_node.Child(layer);
    std::vector<std::string> names;
    if (group == nullptr || !StringList(*group, "weight_names", &names)) {
      return Status::Corruption(fmt::format(
          "'{}' lists layer '{}' but has no readable group with its weight names", file, layer));
    }
    for (const std::string& weight : names) {
      const hdf5::Node* d = Find(*group, weight);
      if (d == nullptr) {
        return Status::Corruption(
            fmt::format("'{}' lists weight '{}' of layer '{}' but has no "
                        "dataset for it",
                        file, weight, layer));
      }
      // The layer's name first: a weight named under the layer keeps its name; one recorded
      // under an outer scope ("seq/d1/kernel", Keras 3) starts at the layer; others (a nested
      // model's weights, Keras 1's "dense_1_W") go under the layer.
      std::string name = StripDeviceSuffix(weight);
      const size_t inner = name.find("/" + layer + "/");
      if (name.rfind(layer + "/", 0) == 0) {
      } else if (inner != std::string::npos) {
        std::string scope = name.substr(0, inner + 1);
        std::replace(scope.begin(), scope.end(), '/', '_');
        outer.insert(std::move(scope));
        name = name.substr(inner + 1);
      } else {
        name = layer + "/" + name;
      }
      out->push_back(make(*d, std::move(name), base + layer + "/" + weight, base + layer));
    }
  }
  if (const hdf5::Node* opt = root.Child("optimizer_weights"); opt != nullptr) {
    std::vector<std::string> names;
    if (!StringList(*opt, "weight_names", &names)) {
      return Status::Corruption(
          fmt::format("'{}' has optimizer weights without a readable list of their names", file));
    }
    for (const std::string& weight : names) {
      const hdf5::Node* d = Find(*opt, weight);
      if (d == nullptr) {
        return Status::Corruption(fmt::format(
            "'{}' lists optimizer weight '{}' but has no dataset for it", file, weight));
      }
      // Keras 3 names a slot after its variable's path ("adam/seq_d1_kernel_momentum"): the
      // scope dropped from the variable is dropped from its slots too.
      std::string name = StripDeviceSuffix(weight);
      const size_t slash = name.find('/');
      for (const std::string& scope : outer) {
        if (slash != std::string::npos && name.compare(slash + 1, scope.size(), scope) == 0) {
          name.erase(slash + 1, scope.size());
          break;
        }
      }
      out->push_back(make(*d, std::move(name), "optimizer_weights/" + weight, "optimizer_weights"));
    }
  }
  return Finish(file, out);
}

Status ReadSmallMember(const ByteSource& file, const zip::Member& m, std::string* out) {
  if (m.raw_size > kMaxJsonMember) {
    return Status::Corruption(fmt::format("member '{}' of '{}' claims {} bytes, too many for it",
                                          m.name, file.name(), m.raw_size));
  }
  if (m.method == 8) return zip::Inflate(file, m, out);
  if (m.method != 0) {
    return Status::Unsupported(fmt::format("member '{}' of '{}' is compressed with zip method {}",
                                           m.name, file.name(), m.method));
  }
  out->resize(static_cast<size_t>(m.data_size));
  return file.ReadAt(m.data_offset, m.data_size, out->data());
}

Status OpenArchive(const std::shared_ptr<const ByteSource>& source, File* file) {
  std::vector<zip::Member> members;
  TFCKPT_RETURN_IF_ERROR(zip::List(*source, ".keras file", &members));
  std::set<std::string> seen;
  const zip::Member* weights = nullptr;
  const zip::Member* config = nullptr;
  const zip::Member* metadata = nullptr;
  bool npz_weights = false;
  for (const zip::Member& m : members) {
    if (!zip::SafeName(m.name)) {
      return Status::Corruption(fmt::format(
          "'{}' is refused: its member '{}' names a path outside the archive", file->path, m.name));
    }
    if (!seen.insert(m.name).second) {
      return Status::Corruption(
          fmt::format("'{}' is refused: it holds member '{}' twice", file->path, m.name));
    }
    if (m.name == kWeightsMember) weights = &m;
    if (m.name == "model.weights.npz") npz_weights = true;
    if (m.name == "config.json") config = &m;
    if (m.name == "metadata.json") metadata = &m;
    if (m.name != kWeightsMember && m.name != "config.json" && m.name != "metadata.json") {
      if (m.method != 0 && m.method != 8 && file->assets_problem.empty()) {
        file->assets_problem = fmt::format(
            "its member '{}' is compressed with method {}, which tfckpt cannot read (zip "
            "method 0, stored, or 8, deflated, only)",
            m.name, m.method);
      }
      file->assets.push_back({m, "", source});
    }
  }
  if (weights == nullptr) {
    if (npz_weights) {
      return Status::Unsupported(fmt::format(
          "'{}' keeps its weights as model.weights.npz, whose members are pickled Python "
          "objects: tfckpt never unpickles (Keras itself cannot load them either, as it reads "
          "them with allow_pickle=False); save the model with its default weights format",
          file->path));
    }
    return Status::Corruption(
        fmt::format("'{}' is a zip archive without {}: it is not a Keras model file", file->path,
                    kWeightsMember));
  }
  if (config) TFCKPT_RETURN_IF_ERROR(ReadSmallMember(*source, *config, &file->config));
  if (metadata) TFCKPT_RETURN_IF_ERROR(ReadSmallMember(*source, *metadata, &file->metadata));
  file->weights_name = fmt::format("{} ({})", file->path, kWeightsMember);
  if (weights->method == 0) {
    file->weights_crc32 = weights->crc32;
    return SliceSource(source, weights->data_offset, weights->data_size, file->weights_name,
                       &file->weights);
  }
  std::string raw;
  if (weights->method != 8) {
    return Status::Unsupported(fmt::format("member '{}' of '{}' is compressed with zip method {}",
                                           kWeightsMember, file->path, weights->method));
  }
  TFCKPT_RETURN_IF_ERROR(zip::Inflate(*source, *weights, &raw));
  file->weights = OwnedMemorySource(std::move(raw), file->weights_name);
  return Status::OK();
}

bool IsZip(const ByteSource& source) {
  char head[4];
  return source.size() >= 22 && source.ReadAt(0, 4, head).ok() &&
         std::string_view(head, 4) == std::string_view("PK\x03\x04", 4);
}

Status ReadWeights(File* file);  // the object tree of file->weights, named (below)

}  // namespace

bool LooksLikeKerasFile(const ByteSource& source) {
  return IsZip(source) || hdf5::LooksLikeHdf5(source);
}

bool IsKerasDirectory(const std::string& path) {
  return file::IsDirectory(path) && file::IsRegularFile(path + "/" + kWeightsMember);
}

bool IsShardedWeights(const std::string& path) { return path.ends_with(".weights.json"); }

namespace {

// The regular files under `dir`/`rel` (a directory's assets), recursively, in name order, as
// `file->assets`. What a .keras output could not copy safely (a symbolic link, which could lead
// outside the model's directory, another kind of entry, a name a zip member cannot have) is
// described in `file->assets_problem` instead: reading the weights does not need the assets.
Status DirectoryAssets(const std::string& dir, const std::string& rel, File* file, int depth = 0) {
  if (!file->assets_problem.empty()) return Status::OK();
  const std::string at = dir + "/" + rel;
  struct stat st;
  if (::lstat(at.c_str(), &st) != 0) {
    if (depth == 0 && errno == ENOENT) return Status::OK();
    return Status::FromErrno(fmt::format("cannot read '{}'", at), errno);
  }
  auto problem = [&](std::string why) {
    file->assets_problem = std::move(why);
    return Status::OK();
  };
  if (!zip::SafeName(rel)) {
    return problem(fmt::format("its asset '{}' has a name a .keras member cannot have", at));
  }
  if (S_ISREG(st.st_mode)) {
    if (file->assets.size() >= kMaxAssets) {
      return problem(fmt::format("it holds more than {} assets", kMaxAssets));
    }
    Asset a;
    a.member.name = rel;
    a.member.data_size = a.member.raw_size = static_cast<int64_t>(st.st_size);
    a.path = at;
    file->assets.push_back(std::move(a));
    return Status::OK();
  }
  if (S_ISLNK(st.st_mode)) {
    return problem(fmt::format(
        "its asset '{}' is a symbolic link, which an output never follows (replace the link "
        "with a copy of the file)",
        at));
  }
  if (!S_ISDIR(st.st_mode) || depth > 64) {
    return problem(fmt::format("'{}' under its assets is {}", at,
                               S_ISDIR(st.st_mode) ? "nested more than 64 directories deep"
                                                   : "neither a file nor a directory"));
  }
  std::vector<std::string> names;
  TFCKPT_RETURN_IF_ERROR(file::ListDirectory(at, &names));
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    TFCKPT_RETURN_IF_ERROR(DirectoryAssets(dir, rel + "/" + n, file, depth + 1));
  }
  return Status::OK();
}

// Keras 3's sharded weights: the map names, for each object's `vars` group, the shards (files
// beside it) holding its values; their trees are joined into one.
Status OpenSharded(const std::string& path, File* file) {
  *file = File();
  file->path = path;
  file->kind = File::Kind::kSharded;
  file->weights_name = path;
  std::string text;
  TFCKPT_RETURN_IF_ERROR(ReadWholeSource(path, &text));
  if (text.size() > static_cast<size_t>(kMaxJsonMember)) {
    return Status::Corruption(fmt::format("'{}' is too large for a map of sharded weights", path));
  }
  const Json map = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  const Json* weight_map = nullptr;
  if (map.is_object() && map.contains("weight_map") && map["weight_map"].is_object()) {
    weight_map = &map["weight_map"];
  }
  if (weight_map == nullptr) {
    return Status::Corruption(
        fmt::format("'{}' is not a map of sharded Keras weights (no \"weight_map\" object)", path));
  }
  std::vector<std::string> shards;
  for (const auto& [group, files] : weight_map->items()) {
    std::vector<Json> list =
        files.is_array() ? files.get<std::vector<Json>>() : std::vector<Json>{files};
    for (const Json& f : list) {
      if (!f.is_string()) {
        return Status::Corruption(
            fmt::format("'{}' names a shard of '{}' that is not a file name", path, group));
      }
      const std::string name = f.get<std::string>();
      if (!zip::SafeName(name) || name.find('/') != std::string::npos) {
        return Status::Corruption(fmt::format(
            "'{}' names shard '{}', which is not a file beside it: refused", path, name));
      }
      if (std::find(shards.begin(), shards.end(), name) == shards.end()) shards.push_back(name);
    }
  }
  if (shards.empty()) return Status::Corruption(fmt::format("'{}' names no shard", path));
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  auto tree = std::make_shared<hdf5::Node>();
  file->tree = tree;
  for (size_t i = 0; i < shards.size(); i++) {
    const std::string shard = dir + shards[i];
    std::shared_ptr<const ByteSource> source;
    Status s = OpenByteSource(shard, &source);
    if (!s.ok()) {
      return Status::NotFound(fmt::format("'{}' names shard '{}', which cannot be opened: {}", path,
                                          shards[i], s.message()));
    }
    hdf5::Node root;
    TFCKPT_RETURN_IF_ERROR(hdf5::Read(*source, &root));
    std::function<void(hdf5::Node*)> mark = [&](hdf5::Node* n) {
      if (!n->group) n->dataset.file = static_cast<int>(i);
      for (hdf5::Node& c : n->children) mark(&c);
    };
    mark(&root);
    std::vector<std::string> both;
    hdf5::JoinTrees(root, tree.get(), &both);
    if (!both.empty()) {
      return Status::Corruption(fmt::format("the shards of '{}' hold '{}' twice (again in '{}')",
                                            path, both[0], shards[i]));
    }
    file->files.push_back(std::move(source));
    file->file_paths.push_back(shard);
  }
  file->weights = file->files[0];
  if (tree->Child("layers") == nullptr && tree->Child("vars") == nullptr &&
      tree->Child("optimizer") == nullptr) {
    return Status::InvalidArgument(fmt::format(
        "the shards of '{}' are not Keras weights (no 'layers', 'vars' or 'optimizer' group)",
        path));
  }
  return Namer(*tree, nullptr, nullptr, "", path).Run(&file->variables, &file->legacy);
}

}  // namespace

Status Open(const std::string& path, File* file) {
  if (IsShardedWeights(path)) return OpenSharded(path, file);
  if (!IsKerasDirectory(path)) {
    std::shared_ptr<const ByteSource> source;
    TFCKPT_RETURN_IF_ERROR(OpenByteSource(path, &source));
    return OpenSource(std::move(source), path, file);
  }
  *file = File();
  file->path = path;
  file->kind = File::Kind::kDirectory;
  file->weights_name = path + "/" + kWeightsMember;
  TFCKPT_RETURN_IF_ERROR(OpenByteSource(file->weights_name, &file->weights));
  file->file_paths = {file->weights_name};
  for (auto [name, out] : {std::pair<const char*, std::string*>{"config.json", &file->config},
                           {"metadata.json", &file->metadata}}) {
    const std::string p = path + "/" + name;
    if (file::IsRegularFile(p)) TFCKPT_RETURN_IF_ERROR(ReadWholeSource(p, out));
  }
  TFCKPT_RETURN_IF_ERROR(DirectoryAssets(path, "assets", file));
  return ReadWeights(file);
}

Status OpenSource(std::shared_ptr<const ByteSource> source, const std::string& path, File* file) {
  *file = File();
  file->path = path;
  file->file_paths = {path};
  if (IsZip(*source)) {
    file->kind = File::Kind::kArchive;
    TFCKPT_RETURN_IF_ERROR(OpenArchive(source, file));
  } else {
    file->kind = File::Kind::kWeightsH5;
    file->weights_name = path;
    file->weights = std::move(source);
  }
  return ReadWeights(file);
}

namespace {

Status ReadWeights(File* file) {
  file->files = {file->weights};
  auto tree = std::make_shared<hdf5::Node>();
  file->tree = tree;
  hdf5::Node& root = *tree;
  TFCKPT_RETURN_IF_ERROR(hdf5::Read(*file->weights, &root));
  if (root.FindAttribute("layer_names") || root.FindAttribute("layer_names0") ||
      root.Child("model_weights")) {
    file->kind = File::Kind::kLegacyH5;
    if (const hdf5::Attribute* a = root.FindAttribute("model_config");
        a != nullptr && a->kind == hdf5::Attribute::Kind::kStrings && a->strings.size() == 1) {
      file->config = a->strings[0];
    }
    file->legacy.problem = "it is a legacy file itself";
    return ReadLegacy(root, file->weights_name, file->config, &file->variables);
  }
  if (root.Child("layers") == nullptr && root.Child("vars") == nullptr &&
      root.Child("optimizer") == nullptr) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is an HDF5 file but not a Keras weights file (it has no 'layers', 'vars' or "
        "'optimizer' group)",
        file->weights_name));
  }
  Json config;
  const Json* model_config = nullptr;
  const Json* compile_config = nullptr;
  if (!file->config.empty()) {
    config = Json::parse(file->config, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return Status::Corruption(
          fmt::format("the config.json of '{}' is not a JSON object", file->path));
    }
    model_config = &config;
    auto it = config.find("compile_config");
    if (it != config.end() && it->is_object()) compile_config = &*it;
  }
  std::string& keras_version = file->keras_version;
  if (!file->metadata.empty()) {
    Json metadata = Json::parse(file->metadata, nullptr, /*allow_exceptions=*/false);
    if (metadata.is_object() && metadata.contains("keras_version") &&
        metadata["keras_version"].is_string()) {
      keras_version = metadata["keras_version"].get<std::string>();
    }
  }
  return Namer(root, model_config, compile_config, keras_version, file->weights_name)
      .Run(&file->variables, &file->legacy);
}

}  // namespace

}  // namespace tfckpt::keras

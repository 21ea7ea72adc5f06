// The legacy HDF5 layout of a Keras 3 model: the object tree Keras' legacy writer
// (`model.save("m.h5")`) gives the model of a `.keras` file, so that a legacy .h5 output can be
// written from a Keras 3 template. The root holds the model's configuration in the legacy form
// (`model_config`, `training_config`), `model_weights` one group per layer of the model's
// `layers` (listed in the `layer_names` attribute, each layer's weights listed in order in its
// `weight_names`) and `optimizer_weights` the optimizer's state. Keras loads such a file by
// position: the n-th layer with weights gets the n-th group listed, its weights in the order
// of LegacyLayout.
//
// Thread-safety: pure functions.

#ifndef TFCKPT_FORMAT_KERAS_LEGACY_H_
#define TFCKPT_FORMAT_KERAS_LEGACY_H_

#include <map>
#include <string>
#include <vector>

#include "format/hdf5.h"
#include "format/keras.h"
#include "tfckpt/status.h"

namespace tfckpt::keras {

// Builds in `tree` the legacy file of the model of `tmpl` (a Keras 3 file, named `label` in
// messages) holding the weights `dataset_of` maps (tensor name -> dataset path in `tmpl`;
// rewritten to the datasets' paths in `tree`). The weight names a legacy file records are the
// tensors' names. Without `optimizer`, the optimizer's state and the training configuration are
// left out. A model whose layout is not known, or that a legacy file cannot hold (bfloat16
// weights, a name longer than an object header holds), is kUnsupported saying why.
Status LegacyTree(const File& tmpl, const std::string& label, bool optimizer,
                  std::map<std::string, std::string>* dataset_of, hdf5::Node* tree);

// A model configuration as config.json holds it, in the form Keras' legacy writer stores it:
// the model's and each listed layer's entry without `module`, `registered_name`,
// `build_config` and `compile_config`, and no `shared_object_id` anywhere.
std::string LegacyModelConfig(const std::string& config_json);
// config.json's `compile_config` as a legacy `training_config` (the optimizer as
// `optimizer_config`), "" when there is none.
std::string LegacyTrainingConfig(const std::string& config_json);

// A list of strings as Keras' legacy writer stores it in attribute `name`: variable-length
// strings, or, when they are larger than an object header holds, fixed-length strings split
// into `name0`, `name1`, ... An empty list is stored as an empty list of numbers. A string
// longer than an object header holds is kUnsupported (Keras refuses it too).
Status StringListAttributes(const std::string& name, const std::vector<std::string>& strings,
                            std::vector<hdf5::Attribute>* out);

}  // namespace tfckpt::keras

#endif  // TFCKPT_FORMAT_KERAS_LEGACY_H_

// Pictures the command line draws as SVG (no plotting library): the relative change per tensor
// of a diff, grouped by layer, and the histograms of `stats`. Every bar carries its data
// (data-name, data-value, data-count) so that a test or a script can read the numbers back.
//
// Thread-safety: pure functions.

#ifndef TFCKPT_TOOLS_SVG_PLOT_H_
#define TFCKPT_TOOLS_SVG_PLOT_H_

#include <string>
#include <vector>

#include "tfckpt/diff.h"
#include "tfckpt/stats.h"
#include "tfckpt/status.h"

namespace tfckpt::cli {

// How a tensor is named in a picture: a TF2 key without its "/.ATTRIBUTES/VARIABLE_VALUE".
std::string ShownName(const std::string& name);
// A tensor's layer: its shown name up to the last '/' ("" for a name without one).
std::string LayerOf(const std::string& name);

// Horizontal bars of ||B-A||/||A|| per tensor, under one heading per layer.
std::string RelativeChangeSvg(const std::string& title, const std::vector<TensorNorms>& norms);

// One histogram per tensor that has one (TensorStats::histogram).
std::string HistogramsSvg(const std::string& title, const std::vector<TensorStats>& stats);

// Writes `text` to `path` through a temporary file renamed into place.
Status WriteSvg(const std::string& path, const std::string& text);

}  // namespace tfckpt::cli

#endif  // TFCKPT_TOOLS_SVG_PLOT_H_

#include "svg_plot.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace tfckpt::cli {
namespace {

constexpr int kWidth = 960;
constexpr int kLabel = 420;  // the names' column
constexpr int kBarArea = 440;
constexpr int kRow = 16;

// The length of the valid UTF-8 sequence at the start of `s`, 0 when it is not one.
size_t Utf8Length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = 0;
  if (c < 0x80) {
    n = 1;
  } else if ((c >> 5) == 0x6 && c >= 0xc2) {
    n = 2;
  } else if ((c >> 4) == 0xe) {
    n = 3;
  } else if ((c >> 3) == 0x1e && c <= 0xf4) {
    n = 4;
  }
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((b(i) & 0xc0) != 0x80) return 0;
  }
  if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) > 0x8f)) {
    return 0;  // overlong, or past U+10FFFF
  }
  return n;
}

// Text for XML: markup characters escaped; tab, newline and return as character references;
// other control characters and bytes that are not UTF-8 as U+FFFD (XML has no place for them).
std::string Escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8Length(s.substr(i));
    const char c = s[i];
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    i++;
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '"') {
      out += "&quot;";
    } else if (c == '\'') {
      out += "&apos;";
    } else if (c == '\t' || c == '\n' || c == '\r') {
      out += fmt::format("&#{};", static_cast<int>(c));
    } else if (n == 1 && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      out += c;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
    }
  }
  return out;
}

// A number as data: shortest round-trip form, "inf" / "nan" where not finite.
std::string Data(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string Header(int width, int height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"{0}\" height=\"{1}\" "
      "fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"14\" "
      "font-weight=\"bold\">{2}</text>\n",
      width, height, Escape(title));
}

}  // namespace

std::string ShownName(const std::string& name) {
  constexpr std::string_view kValue = "/.ATTRIBUTES/VARIABLE_VALUE";
  if (name.size() > kValue.size() && name.ends_with(kValue)) {
    return name.substr(0, name.size() - kValue.size());
  }
  return name;
}

std::string LayerOf(const std::string& name) {
  const std::string shown = ShownName(name);
  const size_t slash = shown.rfind('/');
  return slash == std::string::npos ? "" : shown.substr(0, slash);
}

std::string RelativeChangeSvg(const std::string& title, const std::vector<TensorNorms>& norms) {
  std::map<std::string, std::vector<const TensorNorms*>> layers;
  double top = 0;
  for (const TensorNorms& t : norms) {
    layers[LayerOf(t.name)].push_back(&t);
    if (std::isfinite(t.relative())) top = std::max(top, t.relative());
  }
  if (top == 0) top = 1;
  const int rows = static_cast<int>(norms.size() + 2 * layers.size());
  const int height = 60 + rows * kRow + 30;
  std::string out = Header(kWidth, height, title);
  out += fmt::format(
      "<text x=\"10\" y=\"38\" fill=\"#555\">relative change ||B-A|| / ||A|| per tensor; the "
      "longest bar is {}</text>\n",
      Escape(fmt::format("{:.4g}", top)));
  int y = 60;
  for (const auto& [layer, tensors] : layers) {
    out += fmt::format("<g class=\"layer\" data-layer=\"{}\">\n", Escape(layer));
    out += fmt::format("<text x=\"10\" y=\"{}\" font-weight=\"bold\">{}</text>\n", y + 12,
                       Escape(layer.empty() ? "(top level)" : layer + "/"));
    y += kRow;
    for (const TensorNorms* t : tensors) {
      const double v = t->relative();
      const bool finite = std::isfinite(v);
      const double w = finite ? std::max(0.0, v / top * kBarArea) : kBarArea;
      const std::string shown = ShownName(t->name);
      const std::string leaf = layer.empty() ? shown : shown.substr(layer.size() + 1);
      out += fmt::format("<text x=\"24\" y=\"{}\">{}</text>\n", y + 12, Escape(leaf));
      out += fmt::format(
          "<rect class=\"bar\" data-name=\"{}\" data-value=\"{}\" x=\"{}\" y=\"{}\" "
          "width=\"{:.2f}\" height=\"{}\" fill=\"{}\"/>\n",
          Escape(t->name), Data(v), kLabel, y + 2, w, kRow - 4, finite ? "#4477aa" : "#cc3311");
      out += fmt::format("<text x=\"{:.2f}\" y=\"{}\" fill=\"#333\">{}</text>\n", kLabel + w + 4,
                         y + 12, Escape(fmt::format("{:.3g}", v)));
      y += kRow;
    }
    out += "</g>\n";
    y += kRow;
  }
  out += "</svg>\n";
  return out;
}

std::string HistogramsSvg(const std::string& title, const std::vector<TensorStats>& stats) {
  constexpr int kCols = 3, kPanelW = 300, kPanelH = 150, kPlotH = 100;
  std::vector<const TensorStats*> shown;
  for (const TensorStats& s : stats) {
    if (!s.histogram.empty()) shown.push_back(&s);
  }
  const int rows = static_cast<int>((shown.size() + kCols - 1) / kCols);
  const int height = 40 + std::max(1, rows) * kPanelH + 10;
  std::string out = Header(kCols * kPanelW + 20, height, title);
  for (size_t k = 0; k < shown.size(); k++) {
    const TensorStats& s = *shown[k];
    const int x0 = 10 + static_cast<int>(k % kCols) * kPanelW;
    const int y0 = 40 + static_cast<int>(k / kCols) * kPanelH;
    const int64_t most = *std::max_element(s.histogram.begin(), s.histogram.end());
    const double bw = (kPanelW - 20.0) / static_cast<double>(s.histogram.size());
    out +=
        fmt::format("<g class=\"histogram\" data-name=\"{}\" data-low=\"{}\" data-high=\"{}\">\n",
                    Escape(s.name), Data(s.histogram_low), Data(s.histogram_high));
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", x0, y0 + 10,
                       Escape(s.name));
    for (size_t b = 0; b < s.histogram.size(); b++) {
      const double h = most > 0 ? static_cast<double>(s.histogram[b]) / most * kPlotH : 0;
      out += fmt::format(
          "<rect class=\"bin\" data-count=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" "
          "height=\"{:.2f}\" fill=\"#4477aa\"/>\n",
          s.histogram[b], x0 + b * bw, y0 + 16 + kPlotH - h, std::max(bw - 1, 0.5), h);
    }
    out += fmt::format(
        "<text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text><text x=\"{}\" y=\"{}\" fill=\"#555\" "
        "text-anchor=\"end\">{}</text>\n",
        x0, y0 + kPlotH + 30, Escape(fmt::format("{:.4g}", s.histogram_low)), x0 + kPanelW - 20,
        y0 + kPlotH + 30, Escape(fmt::format("{:.4g}", s.histogram_high)));
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

Status WriteSvg(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return Status::IOError(
          fmt::format("cannot write the picture '{}': {}", path, std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return Status::IOError(
        fmt::format("cannot write the picture '{}': {}", path, std::strerror(err)));
  }
  return Status::OK();
}

}  // namespace tfckpt::cli

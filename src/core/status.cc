#include "tfckpt/status.h"

#include <cstring>

namespace tfckpt {

Status Status::FromErrno(std::string_view what, int errno_value) {
  return IOError(std::string(what) + ": " + std::strerror(errno_value));
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kCorruption:
      name = "corruption";
      break;
    case Code::kIOError:
      name = "I/O error";
      break;
    case Code::kUnsupported:
      name = "unsupported";
      break;
    case Code::kAlreadyExists:
      name = "already exists";
      break;
    case Code::kFailedPrecondition:
      name = "failed precondition";
      break;
    case Code::kDataLoss:
      name = "data loss";
      break;
  }
  return std::string(name) + ": " + message_;
}

std::string RespellOptions(std::string_view message,
                           const std::function<std::string(std::string_view)>& spell) {
  auto is_option_name = [](std::string_view word) {
    if (word.empty() || word[0] < 'a' || word[0] > 'z') return false;
    for (char c : word) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
  };
  std::string out;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t open = message.find('`', pos);
    size_t close = open == std::string_view::npos ? open : message.find('`', open + 1);
    if (close == std::string_view::npos) break;
    std::string_view word = message.substr(open + 1, close - open - 1);
    std::string spelled = is_option_name(word) ? spell(word) : std::string();
    out.append(message.substr(pos, open - pos));
    if (spelled.empty()) {
      out.append(message.substr(open, close + 1 - open));
    } else {
      out.append(spelled);
    }
    pos = close + 1;
  }
  out.append(message.substr(pos));
  return out;
}

std::string OneOf(std::span<const std::string_view> names, std::string_view quote) {
  std::string out;
  for (size_t i = 0; i < names.size(); i++) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out.append(quote).append(names[i]).append(quote);
  }
  return out;
}

}  // namespace tfckpt

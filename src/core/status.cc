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

std::string OneOf(std::span<const std::string_view> names, std::string_view quote) {
  std::string out;
  for (size_t i = 0; i < names.size(); i++) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out.append(quote).append(names[i]).append(quote);
  }
  return out;
}

}  // namespace tfckpt

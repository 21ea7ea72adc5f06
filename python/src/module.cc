// tfckpt._core: the Python face of the tfckpt library (pybind11). Thin: every operation is the
// library's; this file only converts between numpy/Python values and the library's types.
// Tensor values of fixed-size dtypes come back as read-only numpy views on the mapped file.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <atomic>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/convert.h"
#include "tfckpt/diff.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/objects.h"
#include "tfckpt/paths.h"
#include "tfckpt/plan.h"
#include "tfckpt/recipe.h"
#include "tfckpt/remote.h"
#include "tfckpt/stats.h"
#include "tfckpt/verify.h"
#include "tfckpt/version.h"
#include "tfckpt/writer.h"

namespace py = pybind11;
using namespace tfckpt;

namespace {

// Every error carries its Status code; the translator registered in PYBIND11_MODULE raises the
// tfckpt.Error subclass of that code (tfckpt.NotFoundError, tfckpt.DataLossError, ...).
struct TfckptError : std::runtime_error {
  TfckptError(Status::Code code, const std::string& message)
      : std::runtime_error(message), code(code) {}
  Status::Code code;
};

// A library message in Python's terms: the options and operations it names between backquotes
// (RespellOptions) as the keywords and functions of this package; the others, whose keyword is
// their name, stay as they are ("`on_conflict`").
std::string ForPython(std::string_view message) {
  return RespellOptions(message, [](std::string_view name) -> std::string {
    static const std::map<std::string_view, std::string_view> kOther = {
        {"overwrite", "force=True"},      {"renames", "`rename`"},
        {"overrides", "`per_tensor`"},    {"names", "sources given as a mapping {name: path}"},
        {"objects", "tfckpt.objects()"},  {"ls", "Checkpoint.names()"},
        {"edit", "tfckpt.edit()"},        {"verify", "Checkpoint.verify()"},
        {"to_tf1", "tfckpt.to_tf1()"},    {"to_tf2", "tfckpt.to_tf2()"},
        {"keras_template", "`template`"}, {"transfer", "tfckpt.transfer()"}};
    auto it = kOther.find(name);
    return it == kOther.end() ? "" : std::string(it->second);
  });
}

[[noreturn]] void Raise(Status::Code code, const std::string& message) {
  throw TfckptError(code, ForPython(message));
}

[[noreturn]] void InvalidArgument(const std::string& message) {
  Raise(Status::Code::kInvalidArgument, message);
}

void Check(const Status& s) {
  if (!s.ok()) Raise(s.code(), s.message());
}

// The numpy dtype of a tfckpt dtype; the narrow float and sub-byte types come from ml_dtypes.
py::dtype NumpyDType(DType dtype) {
  switch (dtype) {
    case DType::kQInt8:
      return py::dtype("int8");
    case DType::kQUInt8:
      return py::dtype("uint8");
    case DType::kQInt16:
      return py::dtype("int16");
    case DType::kQUInt16:
      return py::dtype("uint16");
    case DType::kQInt32:
      return py::dtype("int32");
    default:
      break;
  }
  const std::string name = DTypeName(dtype);
  switch (dtype) {
    case DType::kBFloat16:
    case DType::kFloat8E5M2:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E4M3B11FNUZ:
    case DType::kFloat8E5M2FNUZ:
    case DType::kInt4:
    case DType::kUInt4:
    case DType::kInt2:
    case DType::kUInt2:
    case DType::kFloat4E2M1FN: {
      py::object ml;
      try {
        ml = py::module_::import("ml_dtypes");
      } catch (const py::error_already_set&) {
        Raise(Status::Code::kFailedPrecondition,
              name +
                  " arrays need the ml_dtypes package (pip install ml_dtypes), or read the raw "
                  "bytes with read(name, raw=True)");
      }
      return py::dtype::from_args(ml.attr(name.c_str()));
    }
    default:
      return py::dtype(name);
  }
}

// Keeps a Tensor (and so its mapping or buffer) alive for as long as numpy needs its bytes.
py::capsule Keep(const Tensor& t) {
  auto* held = new Tensor(t);
  return py::capsule(held, [](void* p) { delete static_cast<Tensor*>(p); });
}

py::array ToNumpy(const Tensor& t, bool raw) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  if (!IsFixedSize(t.dtype())) {
    py::array_t<py::object> out(shape);
    py::object* p = out.mutable_data();
    for (size_t i = 0; i < t.elements().size(); i++) {
      p[i] = py::bytes(t.elements()[i].data(), t.elements()[i].size());
    }
    return out;
  }
  py::dtype dt = raw ? py::dtype("uint8") : NumpyDType(t.dtype());
  if (raw) shape.push_back(DTypeSize(t.dtype()));
  py::array arr(dt, shape, {}, t.bytes().data(), Keep(t));
  arr.attr("setflags")(py::arg("write") = false);
  return arr;
}

// numpy dtype name -> tfckpt dtype.
DType FromNumpy(const py::array& a) {
  std::string name = py::str(a.dtype().attr("name"));
  auto d = DTypeFromName(name);
  if (!d || !IsFixedSize(*d)) {
    InvalidArgument("numpy dtype '" + name + "' has no TensorFlow checkpoint dtype");
  }
  return *d;
}

class PyCheckpoint {
 public:
  PyCheckpoint(const std::string& path, std::optional<int64_t> step) {
    OpenOptions o;
    o.step = step;
    std::unique_ptr<Checkpoint> c;
    Check(Checkpoint::Open(path, o, &c));
    ckpt_ = std::move(c);
    verified_ = std::make_unique<std::atomic<bool>[]>(ckpt_->tensors().size());
  }
  const TensorInfo& Info(const std::string& name) const {
    const TensorInfo* t = ckpt_->Find(name);
    if (t == nullptr) {
      Raise(Status::Code::kNotFound,
            "tensor '" + name + "' is not in checkpoint '" + ckpt_->prefix() + "'");
    }
    return *t;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const TensorInfo& t : ckpt_->tensors()) out.push_back(t.name);
    return out;
  }
  // With `verify`, the first read of a tensor checks its bytes against the stored CRC32C (which
  // reads them all; opening read none) and remembers that they passed, so later reads of it cost
  // nothing. The array is a view on the mapping either way.
  py::array Read(const std::string& name, bool raw, bool verify) const {
    const TensorInfo& info = Info(name);
    std::atomic<bool>& verified = verified_[&info - ckpt_->tensors().data()];
    ReadOptions ro;
    ro.verify_checksums = verify && !verified.load(std::memory_order_acquire);
    Tensor t;
    Status s;
    if (ro.verify_checksums || info.partitioned()) {
      py::gil_scoped_release release;  // reads every byte: let other threads run
      s = ckpt_->Read(info, ro, &t);
    } else {
      s = ckpt_->Read(info, ro, &t);
    }
    if (s.code() == Status::Code::kDataLoss) {
      Raise(Status::Code::kDataLoss,
            s.message() +
                "; the data file is damaged or was changed after the checkpoint was "
                "written (TensorFlow refuses it too): restore it from a good copy; "
                "verify() lists every damaged tensor" +
                (ro.verify_checksums && ckpt_->values_as_stored()
                     ? ", and read(name, verify=False) gives the stored bytes unchecked"
                     : ""));
    }
    Check(s);
    if (ro.verify_checksums) verified.store(true, std::memory_order_release);
    return ToNumpy(t, raw);
  }
  py::dict Verify() const {
    VerifyReport r;
    Check(VerifyCheckpoint(*ckpt_, VerifyOptions(), &r));
    py::list problems;
    for (const VerifyProblem& p : r.problems) {
      py::dict d;
      d["tensor"] = p.tensor;
      d["file"] = p.file;
      d["message"] = p.message;
      problems.append(d);
    }
    py::dict out;
    out["ok"] = r.ok();
    out["problems"] = problems;
    out["tensors_checked"] = r.tensors_checked;
    out["bytes_checked"] = r.bytes_checked;
    return out;
  }
  std::shared_ptr<Checkpoint> ckpt_;
  // Per tensor (in tensors() order): its CRC32C has been checked and matched.
  std::unique_ptr<std::atomic<bool>[]> verified_;
};

// Check for the writer, whose keyword for `overwrite` is its own name.
void CheckWriter(const Status& s) {
  if (s.ok()) return;
  Raise(s.code(), RespellOptions(s.message(), [](std::string_view name) -> std::string {
          return name == "overwrite" ? "overwrite=True" : "";
        }));
}

class PyWriter {
 public:
  PyWriter(const std::string& prefix, bool overwrite) {
    WriterOptions o;
    o.overwrite = overwrite;
    CheckWriter(BundleWriter::Create(prefix, o, &w_));
  }
  void Add(const std::string& name, const py::array& array) {
    if (!w_) Raise(Status::Code::kFailedPrecondition, "the writer is closed");
    Shape shape(array.shape(), array.shape() + array.ndim());
    const char kind = array.dtype().kind();
    if (kind == 'O' || kind == 'S' || kind == 'U') {
      std::vector<std::string> values;
      py::list flat = array.attr("ravel")().attr("tolist")();
      for (py::handle item : flat) {
        if (py::isinstance<py::bytes>(item)) {
          values.push_back(item.cast<std::string>());
        } else if (py::isinstance<py::str>(item)) {
          values.push_back(item.cast<std::string>());  // UTF-8
        } else {
          InvalidArgument("tensor '" + name + "': string tensors hold bytes or str elements");
        }
      }
      std::vector<std::string_view> views(values.begin(), values.end());
      Check(
          w_->AddTensor(name, Tensor::Elements(DType::kString, shape, std::move(views), nullptr)));
      return;
    }
    // A checkpoint holds row-major little-endian elements: store the values of any layout
    // (big-endian, strided, Fortran-ordered, reversed, a view), never its memory as it lies.
    py::array c = array;
    if (py::str(array.dtype().attr("byteorder")).cast<std::string>() == ">") {
      c = array.attr("astype")(array.dtype().attr("newbyteorder")("<"), py::arg("order") = "C");
    }
    c = py::array::ensure(c, py::array::c_style);
    if (!c) InvalidArgument("tensor '" + name + "': numpy could not copy the array");
    DType dtype;
    try {
      dtype = FromNumpy(c);
    } catch (const TfckptError& e) {
      InvalidArgument("tensor '" + name + "': " + e.what() +
                      "; convert the array (e.g. with astype) before saving it");
    }
    const auto* p = static_cast<const uint8_t*>(c.data());
    Check(
        w_->Add({name, dtype, shape}, PieceBytes::InMemory({p, static_cast<size_t>(c.nbytes())})));
  }
  void Close() {
    if (!w_) return;
    Status s = w_->Finish();
    w_.reset();
    CheckWriter(s);
  }
  void Abort() {
    if (w_) w_->Abort();
    w_.reset();
  }
  std::unique_ptr<BundleWriter> w_;
};

// progress= of average, blend and apply: progress(done_bytes, total_bytes) through the output's
// bytes, called with the GIL from one of the executing threads at a time (tfckpt/progress.h).
// An exception it raises stops the calls and is raised once the operation has returned (its
// output written).
class PyProgress {
 public:
  explicit PyProgress(std::optional<py::function> fn) : fn_(std::move(fn)) {}
  // Sets `eo->progress` (when there is a callable); `this` must outlive the execution.
  void Attach(ExecuteOptions* eo) {
    if (!fn_) return;
    eo->progress = [this](int64_t done, int64_t total) {
      py::gil_scoped_acquire gil;
      if (error_) return;
      try {
        (*fn_)(done, total);
      } catch (py::error_already_set& e) {
        error_ = std::move(e);
      }
    };
  }
  // With the GIL: raises what the callable raised, if anything.
  void RaiseIfFailed() {
    if (error_) throw *error_;
  }

 private:
  std::optional<py::function> fn_;
  std::optional<py::error_already_set> error_;
};

// Runs a plan (or describes it) and returns the JSON the CLI prints.
std::string RunPlan(const Status& built, Plan& plan, bool dry_run, bool force,
                    const std::string& link, const std::optional<std::string>& max_shard_size,
                    std::optional<py::function> progress = std::nullopt) {
  ExecuteOptions eo;
  Check(ParseLinkMode(link, &eo.link));
  Check(built);
  int64_t shard_bytes = 0;
  if (max_shard_size) Check(ParseByteSize(*max_shard_size, &shard_bytes));
  Check(SetMaxShardBytes(&plan, shard_bytes));
  for (std::string& note : plan.notes) note = ForPython(note);
  if (dry_run) return plan.DescribeJson(false, nullptr);
  eo.overwrite = force;
  PyProgress reporter(std::move(progress));
  reporter.Attach(&eo);
  ExecuteReport r;
  Status s;
  {
    py::gil_scoped_release release;
    s = ExecutePlan(plan, eo, &r);
  }
  Check(s);
  reporter.RaiseIfFailed();
  return plan.DescribeJson(true, &r.stats);
}

class PySink : public TensorSink {
 public:
  explicit PySink(py::function fn) : fn_(std::move(fn)) {}
  Status Assign(const std::string& target, const Tensor& value) override {
    fn_(target, ToNumpy(value, false));
    return Status::OK();
  }

 private:
  py::function fn_;
};

// tfckpt.Error and one subclass per Status code, each also a subclass of the built-in exception
// a Python caller would catch for it where that is sound: NotFoundError is a KeyError (a tensor
// name that is not there, as in a dict), InvalidArgumentError a ValueError, IOError an OSError
// (the operating system refused a read or a write; errno is not kept).
struct ErrorKind {
  Status::Code code;
  const char* name;
  const char* builtin;  // an extra base from builtins, or null
  const char* doc;
};
constexpr ErrorKind kErrorKinds[] = {
    {Status::Code::kNotFound, "NotFoundError", "KeyError",
     "A tensor, checkpoint or file that was asked for does not exist (also a KeyError, as for a "
     "dict)."},
    {Status::Code::kInvalidArgument, "InvalidArgumentError", "ValueError",
     "The request itself is wrong: a bad option value, mapping, name or array (also a "
     "ValueError)."},
    {Status::Code::kCorruption, "CorruptionError", nullptr,
     "A file exists but its bytes are no valid checkpoint: a damaged index, a truncated data "
     "file, a layout that does not parse."},
    {Status::Code::kIOError, "IOError", "OSError",
     "The operating system refused a read or a write (also an OSError; its errno is None, the "
     "message ends with the system's reason)."},
    {Status::Code::kUnsupported, "UnsupportedError", nullptr,
     "Valid input that tfckpt does not handle (e.g. a dtype a format cannot hold)."},
    {Status::Code::kAlreadyExists, "AlreadyExistsError", nullptr,
     "An output would replace something without being allowed to (pass force=True or "
     "overwrite=True), or a tensor name was given twice."},
    {Status::Code::kFailedPrecondition, "FailedPreconditionError", nullptr,
     "The call cannot run in this state: a closed writer, a missing optional package "
     "(ml_dtypes)."},
    {Status::Code::kDataLoss, "DataLossError", nullptr,
     "Damaged tensor bytes, as TensorFlow's DataLossError: they disagree with their CRC32C (or a "
     "string tensor's lengths do not parse); the data file is damaged or was changed after it "
     "was written."},
};

// The Python classes, by code; set once when the module is imported and kept for the process.
PyObject* g_errors[static_cast<int>(Status::Code::kDataLoss) + 1] = {};
PyObject* g_error_base = nullptr;

void RegisterErrors(py::module_& m) {
  g_error_base = PyErr_NewExceptionWithDoc(
      "tfckpt.Error",
      "Base of every error tfckpt raises; its message is the one the command line prints. Each "
      "kind has its own subclass (NotFoundError, InvalidArgumentError, DataLossError, ...).",
      nullptr, nullptr);
  if (g_error_base == nullptr) throw py::error_already_set();
  m.add_object("Error", py::reinterpret_borrow<py::object>(g_error_base));
  py::module_ builtins = py::module_::import("builtins");
  for (const ErrorKind& kind : kErrorKinds) {
    py::tuple bases;
    if (kind.builtin != nullptr) {
      bases = py::make_tuple(py::handle(g_error_base), builtins.attr(kind.builtin));
    } else {
      bases = py::make_tuple(py::handle(g_error_base));
    }
    const std::string qualified = std::string("tfckpt.") + kind.name;
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), kind.doc, bases.ptr(), nullptr);
    if (cls == nullptr) throw py::error_already_set();
    py::object type = py::reinterpret_borrow<py::object>(cls);
    // KeyError's str() is the repr of its key: show the message as it is written.
    if (kind.code == Status::Code::kNotFound) {
      type.attr("__str__") = builtins.attr("BaseException").attr("__str__");
    }
    g_errors[static_cast<int>(kind.code)] = cls;
    m.add_object(kind.name, type);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TfckptError& e) {
      const int code = static_cast<int>(e.code);
      PyObject* cls = code >= 0 && code < static_cast<int>(std::size(g_errors)) && g_errors[code]
                          ? g_errors[code]
                          : g_error_base;
      PyErr_SetString(cls, e.what());
    }
  });
}

// A blend's per-tensor rule: (regex, weights, lambda, t, density, p), None where not set.
using BlendRule = std::tuple<std::string, std::optional<std::vector<double>>, std::optional<double>,
                             std::optional<double>, std::optional<double>, std::optional<double>>;

py::list ShapeList(const Shape& shape) {
  py::list out;
  for (int64_t d : shape) out.append(d);
  return out;
}

py::dict Meta(DType dtype, const Shape& shape) {
  py::dict d;
  d["dtype"] = DTypeName(dtype);
  d["shape"] = ShapeList(shape);
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "tfckpt's C++ library (use the tfckpt package, not this module)";
  m.attr("__version__") = TFCKPT_VERSION;  // project(VERSION) in CMakeLists.txt
  RegisterErrors(m);

  py::class_<PyCheckpoint>(m, "Checkpoint")
      .def(py::init<const std::string&, std::optional<int64_t>>(), py::arg("path"),
           py::arg("step") = py::none())
      .def_property_readonly("prefix", [](const PyCheckpoint& c) { return c.ckpt_->prefix(); })
      .def_property_readonly("format",
                             [](const PyCheckpoint& c) { return FormatName(c.ckpt_->format()); })
      .def_property_readonly("num_shards",
                             [](const PyCheckpoint& c) { return c.ckpt_->num_shards(); })
      .def_property_readonly("missing_data_files",
                             [](const PyCheckpoint& c) { return c.ckpt_->missing_data_files(); })
      .def_property_readonly(
          "incomplete",
          [](const PyCheckpoint& c) { return ForPython(c.ckpt_->DescribeIncomplete()); })
      .def("names", &PyCheckpoint::Names)
      .def("dtype",
           [](const PyCheckpoint& c, const std::string& n) { return DTypeName(c.Info(n).dtype); })
      .def("shape",
           [](const PyCheckpoint& c, const std::string& n) {
             const Shape& s = c.Info(n).shape;
             py::tuple t(s.size());
             for (size_t i = 0; i < s.size(); i++) t[i] = s[i];
             return t;
           })
      .def("partitioned",
           [](const PyCheckpoint& c, const std::string& n) { return c.Info(n).partitioned(); })
      .def("contains",
           [](const PyCheckpoint& c, const std::string& n) { return c.ckpt_->Find(n) != nullptr; })
      .def("read", &PyCheckpoint::Read, py::arg("name"), py::arg("raw") = false,
           py::arg("verify") = true)
      .def("verify", &PyCheckpoint::Verify);

  py::class_<PyWriter>(m, "Writer")
      .def(py::init<const std::string&, bool>(), py::arg("prefix"), py::arg("overwrite") = false)
      .def("add", &PyWriter::Add)
      .def("close", &PyWriter::Close)
      .def("abort", &PyWriter::Abort);

  m.def("merge",
        [](const std::vector<std::string>& sources, const std::vector<std::string>& names,
           const std::string& output, const std::string& on_conflict, const std::string& link,
           bool move, bool force, bool dry_run, std::optional<std::string> max_shard_size) {
          MergeOptions mo;
          mo.names = names;
          mo.move = move;
          Check(ParseOnConflict(on_conflict, &mo.on_conflict));
          Plan plan;
          Status s = PlanMerge(sources, output, mo, &plan);
          return RunPlan(s, plan, dry_run, force, link, max_shard_size);
        });
  m.def("transfer",
        [](const std::string& output,
           const std::vector<
               std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>& groups,
           std::optional<std::string> into, const std::string& tf2_names, bool include_optimizer,
           bool force, bool dry_run, std::optional<std::string> max_shard_size) {
          TransferOptions to;
          to.into = into;
          to.include_optimizer = include_optimizer;
          Check(ParseTf2Names(tf2_names, &to.tf2_names));
          for (const auto& [src, map] : groups) to.groups.push_back({src, map});
          Plan plan;
          Status s = PlanTransfer(to, output, &plan);
          return RunPlan(s, plan, dry_run, force, "auto", max_shard_size);
        });
  m.def("edit",
        [](const std::string& src, const std::string& output,
           const std::vector<std::pair<std::string, std::string>>& rename,
           const std::vector<std::string>& keep, const std::vector<std::string>& drop, bool strip,
           bool force, bool dry_run, std::optional<std::string> max_shard_size) {
          EditOptions eo;
          eo.renames = rename;
          eo.keep = keep;
          eo.drop = drop;
          eo.strip_optimizer = strip;
          Plan plan;
          Status s = PlanEdit(src, output, eo, &plan);
          return RunPlan(s, plan, dry_run, force, "auto", max_shard_size);
        });
  m.def("average",
        [](const std::vector<std::string>& sources, const std::string& output,
           const std::vector<double>& weights, bool normalize, int take_nonfloat_from,
           bool keep_optimizer, bool force, bool dry_run, std::optional<py::function> progress,
           const std::string& selection, std::optional<std::string> max_shard_size) {
          AverageOptions ao;
          ao.selection = selection;
          ao.weights = weights;
          ao.normalize = normalize;
          ao.take_nonfloat_from = take_nonfloat_from;
          ao.keep_optimizer = keep_optimizer;
          Plan plan;
          Status s = PlanAverage(sources, output, ao, &plan);
          return RunPlan(s, plan, dry_run, force, "auto", max_shard_size, std::move(progress));
        });
  m.def("blend",
        [](const std::string& method, std::optional<std::string> base,
           const std::vector<std::string>& models, const std::string& output,
           const std::vector<double>& weights, double lambda, double t, double density, double p,
           uint64_t seed, bool normalize, bool keep_optimizer,
           const std::vector<BlendRule>& per_tensor, bool force, bool dry_run,
           std::optional<py::function> progress, std::optional<std::string> max_shard_size) {
          BlendOptions bo;
          Check(ParseBlendMethod(method, &bo.method));
          bo.base = base;
          bo.models = models;
          bo.weights = weights;
          bo.lambda = lambda;
          bo.t = t;
          bo.density = density;
          bo.p = p;
          bo.seed = seed;
          bo.normalize = normalize;
          bo.keep_optimizer = keep_optimizer;
          for (const auto& [pattern, rule_weights, rule_lambda, rule_t, rule_density, rule_p] :
               per_tensor) {
            BlendOverride o;
            o.pattern = pattern;
            o.weights = rule_weights;
            o.lambda = rule_lambda;
            o.t = rule_t;
            o.density = rule_density;
            o.p = rule_p;
            bo.overrides.push_back(std::move(o));
          }
          Plan plan;
          Status s = PlanBlend(bo, output, &plan);
          return RunPlan(s, plan, dry_run, force, "auto", max_shard_size, std::move(progress));
        });
  m.def("diff", [](const PyCheckpoint& a, const PyCheckpoint& b, double atol, double rtol,
                   bool names_only, bool norms) {
    DiffOptions options;
    options.atol = atol;
    options.rtol = rtol;
    options.names_only = names_only;
    options.norms = norms;
    DiffReport r;
    {
      py::gil_scoped_release release;  // reads every tensor whose bytes differ
      Check(DiffCheckpoints(*a.ckpt_, *b.ckpt_, options, &r));
    }
    py::list changed, values;
    for (const TensorChange& c : r.changed) {
      py::dict d;
      d["name"] = c.name;
      d["a"] = Meta(c.a_dtype, c.a_shape);
      d["b"] = Meta(c.b_dtype, c.b_shape);
      changed.append(d);
    }
    for (const ValueDiff& v : r.values_differ) {
      py::dict d;
      d["name"] = v.name;
      d["differing"] = v.differing;
      d["max_abs"] = v.max_abs;
      d["max_rel"] = v.max_rel;
      values.append(d);
    }
    py::dict out;
    out["a"] = a.ckpt_->prefix();
    out["b"] = b.ckpt_->prefix();
    out["only_in_a"] = r.only_in_a;
    out["only_in_b"] = r.only_in_b;
    out["changed"] = changed;
    out["values_differ"] = values;
    out["identical"] = r.identical;
    out["values_not_compared"] = r.values_not_compared;
    if (norms) {
      py::list rel;
      for (const TensorNorms& t : r.norms) {
        py::dict d;
        d["name"] = t.name;
        d["a_l2"] = t.a_l2;
        d["diff_l2"] = t.diff_l2;
        d["relative"] = t.relative();
        rel.append(d);
      }
      out["relative_change"] = rel;
    }
    out["same"] = r.same();
    return out;
  });
  m.def("to_tf1", [](const std::string& src, const std::string& output, bool force, bool dry_run) {
    Plan plan;
    Status s = PlanToTf1(src, output, &plan);
    return RunPlan(s, plan, dry_run, force, "auto", std::nullopt);
  });
  m.def("to_tf2", [](const std::string& src, const std::string& tf2_template,
                     const std::string& output, bool force, bool dry_run) {
    Plan plan;
    Status s = PlanToTf2(src, tf2_template, output, &plan);
    return RunPlan(s, plan, dry_run, force, "auto", std::nullopt);
  });
  m.def("objects", [](const std::string& path) {
    std::unique_ptr<Checkpoint> ckpt;
    Check(Checkpoint::Open(path, &ckpt));
    ObjectGraph graph;
    Check(ReadObjectGraph(*ckpt, &graph));
    return ObjectGraphJson(*ckpt, graph);
  });
  m.def("stats", [](const PyCheckpoint& c, const std::vector<std::string>& names, int threads,
                    std::optional<std::string> filter) {
    StatsOptions so;
    so.names = names;
    so.threads = threads;
    if (filter) {  // as `stats --filter`
      if (!names.empty()) {
        Check(Status::InvalidArgument(
            "give tensor names or filter, not both (filter chooses among all tensors)"));
      }
      NamePattern pattern;
      Check(NamePattern::Compile(*filter, "filter", &pattern));
      for (const TensorInfo& t : c.ckpt_->tensors()) {
        if (pattern.Search(t.name)) so.names.push_back(t.name);
      }
      if (so.names.empty()) {
        Check(Status::NotFound(
            fmt::format("no tensor of '{}' matches filter '{}'", c.ckpt_->prefix(), *filter)));
      }
    }
    std::vector<TensorStats> stats;
    {
      py::gil_scoped_release release;  // reads every value
      Check(ComputeStats(*c.ckpt_, so, &stats));
    }
    auto number = [](const std::optional<double>& v) -> py::object {
      return v ? py::object(py::float_(*v)) : py::object(py::none());
    };
    py::dict out;
    for (const TensorStats& s : stats) {
      py::dict d;
      d["dtype"] = DTypeName(s.dtype);
      py::tuple shape(s.shape.size());
      for (size_t i = 0; i < s.shape.size(); i++) shape[i] = s.shape[i];
      d["shape"] = shape;
      d["count"] = s.count;
      if (!s.error.ok()) {
        d["error"] = ForPython(s.error.message());
      } else if (s.numeric) {
        d["min"] = s.min_int    ? py::object(py::int_(*s.min_int))
                   : s.min_uint ? py::object(py::int_(*s.min_uint))
                                : number(s.min);
        d["max"] = s.max_int    ? py::object(py::int_(*s.max_int))
                   : s.max_uint ? py::object(py::int_(*s.max_uint))
                                : number(s.max);
        d["mean"] = number(s.mean);
        d["std"] = number(s.std);
        d["l2"] = s.l2;
        d["nan"] = s.nan;
        d["inf"] = s.inf;
        d["zeros"] = s.zeros;
      }
      out[py::str(s.name)] = d;
    }
    return out;
  });
  m.def("set_remote_options",
        [](const std::string& endpoint, int concurrency, int max_attempts, int64_t part_size) {
          RemoteOptions o;
          o.endpoint = endpoint;
          o.concurrency = concurrency;
          o.max_attempts = max_attempts;
          o.part_size = part_size;
          SetRemoteOptions(o);
        });
  m.def("remote_counters", [] {
    const RemoteCounters c = GetRemoteCounters();
    py::dict d;
    d["requests"] = c.requests;
    d["retries"] = c.retries;
    d["bytes"] = c.bytes;
    return d;
  });
  m.def("listed_checkpoints", [](const std::string& dir) {
    std::vector<std::string> out;
    Check(ListedCheckpoints(dir, &out));
    return out;
  });
  m.def("last_checkpoints", [](const std::string& dir, int n) {
    std::vector<std::string> out;
    Check(LastCheckpoints(dir, n, &out));
    return out;
  });
  m.def("last_checkpoints_chosen", [](const std::string& dir, int n) {
    std::vector<std::string> out;
    std::string how;
    Check(LastCheckpoints(dir, n, &out, &how));
    return std::make_pair(out, how);
  });
  m.def("apply", [](const std::string& recipe, std::optional<std::string> output, bool force,
                    bool dry_run, std::optional<py::function> progress) {
    RecipeOptions ro;
    ro.output = output;
    ro.dry_run = dry_run;
    ro.execute.overwrite = force;
    PyProgress reporter(std::move(progress));
    reporter.Attach(&ro.execute);
    std::string report;
    Status s;
    {
      py::gil_scoped_release release;
      s = ApplyRecipe(recipe, ro, &report);
    }
    Check(s);
    reporter.RaiseIfFailed();
    return report;
  });
  m.def("convert", [](const std::string& src, const std::string& out, bool skip_unsupported,
                      bool strip_optimizer, std::optional<std::string> max_shard_size, bool force,
                      const std::string& keras_template) {
    ConvertOptions co;
    co.keras_template = keras_template;
    co.skip_unsupported = skip_unsupported;
    co.names.strip_optimizer = strip_optimizer;
    co.overwrite = force;
    if (max_shard_size) Check(ParseByteSize(*max_shard_size, &co.max_shard_bytes));
    ConvertReport r;
    {
      py::gil_scoped_release release;
      Check(Convert(src, out, co, &r));
    }
    return r.ToJson();
  });
  m.def("init_from_checkpoint",
        [](const std::string& ckpt, const std::vector<std::pair<std::string, std::string>>& map,
           const std::vector<std::tuple<std::string, std::string, std::vector<int64_t>>>& targets,
           py::function assign, const std::string& tf2_names, bool include_optimizer) {
          Tf2Names names = Tf2Names::kAuto;
          Check(ParseTf2Names(tf2_names, &names));
          std::vector<TargetVariable> variables;
          for (const auto& [name, dtype, shape] : targets) {
            auto d = DTypeFromName(dtype);
            if (!d)
              InvalidArgument("variable '" + name + "' has dtype '" + dtype +
                              "', which a checkpoint cannot hold");
            variables.push_back({name, *d, shape});
          }
          PySink sink(assign);
          std::vector<std::pair<std::string, std::string>> assigned;
          Status s =
              InitFromCheckpoint(ckpt, map, variables, &sink, &assigned, names, include_optimizer);
          if (!s.ok() && s.code() != Status::Code::kDataLoss && names != Tf2Names::kFullNames) {
            std::unique_ptr<Checkpoint> source;
            if (Checkpoint::Open(ckpt, &source).ok() && IsObjectBased(*source)) {
              s = Status::InvalidArgument(
                  s.message() + "\n(" + source->prefix() +
                  " is a TF2 checkpoint, addressed here by its keys, e.g. "
                  "'model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE'; pass tf2_names='full' to "
                  "address it by its variables' full names, e.g. 'dense/kernel')");
            }
          }
          Check(s);
          return assigned;
        });
}

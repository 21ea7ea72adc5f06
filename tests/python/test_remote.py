"""Checkpoints in object storage: tfckpt reads s3:// (and http://) paths from a real S3 server.

SeaweedFS runs on loopback, started and stopped here; boto3 uploads what TensorFlow wrote;
TensorFlow reads the local original, and what tfckpt reads from the bucket (or writes from it)
must equal it. A fault proxy in front of the server proves the retries and the resumed reads."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import conftest
import remote_testlib as rt
import tfckpt_testlib as lib


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = rt.S3Server(tmp_path_factory.mktemp("s3"), identity=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(s3):
    p = rt.FaultProxy(s3.port)
    yield p
    p.stop()


def env_for(endpoint, **extra):
    """The environment of a tfckpt run against `endpoint` with the test identity's keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GS_"))}
    env.update(AWS_ACCESS_KEY_ID=rt.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=rt.SECRET_KEY,
               AWS_REGION=rt.REGION, AWS_ENDPOINT_URL=endpoint,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def values_equal(a, b):
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and list(a.ravel()) == list(b.ravel())
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def python_in(env, code):
    """Runs `code` in a fresh Python with `env` (and the package on the path); returns its last
    line of stdout parsed as JSON."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uploaded(s3, tf1_sharded, tf1_partitioned, tf2_dir, tf1_steps_dir, saved_model_dir,
             all_dtypes):
    """TF-written checkpoints of every form, uploaded to bucket 'ckpts'."""
    bucket = s3.bucket("ckpts")
    s3.upload_checkpoint(tf1_sharded, bucket, "sharded/model")
    s3.upload_checkpoint(tf1_partitioned, bucket, "partitioned/model")
    s3.upload_checkpoint(all_dtypes[0], bucket, "dtypes/all")
    s3.upload_dir(tf2_dir, bucket, "tf2")
    s3.upload_dir(tf1_steps_dir, bucket, "steps")
    s3.upload_dir(saved_model_dir, bucket, "sm")
    s3.upload_dir(os.path.join(saved_model_dir, "variables"), bucket, "sm/variables")
    return {
        "s3://ckpts/sharded/model": tf1_sharded,
        "s3://ckpts/partitioned/model": tf1_partitioned,
        "s3://ckpts/dtypes/all": all_dtypes[0],
        "s3://ckpts/tf2": tf.train.latest_checkpoint(tf2_dir),
        "s3://ckpts/steps": tf.train.latest_checkpoint(tf1_steps_dir),
        "s3://ckpts/sm": os.path.join(saved_model_dir, "variables", "variables"),
    }


def test_ls_and_values_equal_what_tf_reads(tfckpt, s3, uploaded):
    env = env_for(s3.endpoint)
    for remote, local in uploaded.items():
        got = tfckpt.json("ls", remote, "--json", env=env)
        want = tfckpt.json("ls", local, "--json")
        assert got["tensors"] == want["tensors"], remote
        # Every value, read through the Python package from the bucket, equals TF's reading of
        # the local original.
        values = python_in(env, (
            "import json, tfckpt\n"
            "c = tfckpt.open(%r)\n"
            "out = {}\n"
            "for n in c.names():\n"
            "    if c.dtype(n) == 'variant': continue\n"
            "    a = c.read(n)\n"
            "    flat = [x.hex() for x in a.ravel()] if a.dtype == object else a.tobytes().hex()\n"
            "    out[n] = [str(a.dtype), list(a.shape), flat]\n"
            "print(json.dumps(out))\n") % remote)
        tf_values = lib.tf_read_all(local)
        assert set(values) == {n for n, (d, _, _) in tf_values.items() if d != "variant"}, remote
        for name, (dtype, shape, value) in tf_values.items():
            if dtype == "variant":
                continue
            if isinstance(value, bytes):
                value = np.array(value, dtype=object)
            got_dtype, got_shape, got_flat = values[name]
            assert got_shape == list(value.shape), (remote, name)
            if value.dtype == object:
                assert got_flat == [x.hex() for x in value.ravel()], (remote, name)
            else:
                assert got_dtype == str(value.dtype), (remote, name)
                assert got_flat == value.tobytes().hex(), (remote, name)


def test_verify_and_show_remote(tfckpt, s3, uploaded):
    env = env_for(s3.endpoint)
    for remote in uploaded:
        proc = tfckpt.run("verify", remote, env=env)
        assert proc.out.startswith("ok s3://ckpts/"), proc.where
    proc = tfckpt.run("show", "s3://ckpts/sharded/model", "dev0/w", "--json", env=env)
    want = tf.train.load_checkpoint(uploaded["s3://ckpts/sharded/model"]).get_tensor("dev0/w")
    assert np.array_equal(np.array(json.loads(proc.out)["tensors"][0]["values"],
                                   np.float32).reshape(want.shape), want)


def test_directory_forms_resolve_as_locally(tfckpt, s3, uploaded, tf1_steps_dir):
    env = env_for(s3.endpoint)
    # The state file of a TF1 Saver holds absolute local paths: the listed checkpoint is found
    # beside it in the bucket, as locally.
    doc = tfckpt.json("ls", "s3://ckpts/steps@10", "--json", env=env)
    assert doc["prefix"] == "s3://ckpts/steps/model-10"
    step10 = tf.train.load_checkpoint(os.path.join(tf1_steps_dir, "model-10")).get_tensor("v")
    proc = tfckpt.run("show", "s3://ckpts/steps@10", "v", "--json", env=env)
    assert np.array_equal(json.loads(proc.out)["tensors"][0]["values"], step10)
    assert tfckpt.json("ls", "s3://ckpts/steps/", "--json", env=env)["prefix"] == \
        "s3://ckpts/steps/model-20"
    assert tfckpt.json("ls", "s3://ckpts/sm", "--json", env=env)["prefix"] == \
        "s3://ckpts/sm/variables/variables"
    for form in ("s3://ckpts/sharded/model.index", "s3://ckpts/sharded/model.data-00000-of-00002"):
        assert tfckpt.json("ls", form, "--json", env=env)["prefix"] == "s3://ckpts/sharded/model"


def test_ls_fetches_only_the_index(s3, uploaded, tf1_partitioned):
    index = os.path.getsize(tf1_partitioned + ".index")
    data = sum(os.path.getsize(f) for f in lib.data_files(tf1_partitioned))
    counters = python_in(env_for(s3.endpoint), (
        "import json, tfckpt\n"
        "c = tfckpt.open('s3://ckpts/partitioned/model')\n"
        "names = c.names()\n"
        "print(json.dumps(tfckpt.remote_counters()))\n"))
    assert counters["bytes"] <= index + 64 * 1024, (counters, index, data)
    assert counters["retries"] == 0


def test_transfer_fetches_only_the_scope_and_restores_in_tf(tfckpt, s3, tmp_path):
    """A checkpoint with a large encoder and a larger decoder: transfer of the encoder scope from
    the bucket fetches the encoder's bytes (not the decoder's), and TF restores the output."""
    local = str(tmp_path / "src" / "model")
    rng = np.random.default_rng(5)
    enc = {"enc/w%d" % i: rng.standard_normal((256, 512)).astype(np.float32) for i in range(4)}
    dec = {"dec/w%d" % i: rng.standard_normal((512, 512)).astype(np.float32) for i in range(6)}
    os.makedirs(os.path.dirname(local))
    lib.save_tensors(local, {**enc, **dec, "step": np.int64(7)})
    bucket = s3.bucket("scopes")
    s3.upload_checkpoint(local, bucket, "run/model")
    out = str(tmp_path / "out" / "enc")
    env = env_for(s3.endpoint)
    counters = python_in(env, (
        "import json, tfckpt\n"
        "tfckpt.transfer([('s3://scopes/run/model', {'enc/': 'enc/'})], %r)\n"
        "print(json.dumps(tfckpt.remote_counters()))\n") % out)
    scope = sum(v.nbytes for v in enc.values())
    index = os.path.getsize(local + ".index")
    assert counters["bytes"] <= 1.1 * scope + index + 64 * 1024, (counters, scope)
    reader = tf.train.load_checkpoint(out)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(enc)
    original = tf.train.load_checkpoint(local)
    for name in enc:
        assert np.array_equal(reader.get_tensor(name), original.get_tensor(name))
    # The same through the command line.
    out2 = str(tmp_path / "out2" / "enc")
    tfckpt.run("transfer", "--from", "s3://scopes/run/model", "--map", "enc/=enc/", "-o", out2,
               env=env)
    reader2 = tf.train.load_checkpoint(out2)
    for name in enc:
        assert np.array_equal(reader2.get_tensor(name), original.get_tensor(name))


def test_merge_of_remote_checkpoints_restores_in_tf(tfckpt, s3, uploaded, tmp_path):
    env = env_for(s3.endpoint)
    out = str(tmp_path / "merged" / "model")
    tfckpt.run("merge", "s3://ckpts/sharded/model", "s3://ckpts/partitioned/model", "-o", out,
               env=env)
    reader = tf.train.load_checkpoint(out)
    for remote in ("s3://ckpts/sharded/model", "s3://ckpts/partitioned/model"):
        original = tf.train.load_checkpoint(uploaded[remote])
        for name in original.get_variable_to_shape_map():
            assert values_equal(reader.get_tensor(name), original.get_tensor(name)), name


def test_wrong_credentials_are_refused_without_printing_the_secret(tfckpt, s3, uploaded):
    wrong = "wrong-secret-value-1234"
    proc = tfckpt.run("ls", "s3://ckpts/sharded/model",
                      env=env_for(s3.endpoint, AWS_SECRET_ACCESS_KEY=wrong), expect_rc=2)
    assert "403" in proc.err and "SignatureDoesNotMatch" in proc.err, proc.where
    assert "AWS_ACCESS_KEY_ID" in proc.err and "'ckpts'" in proc.err, proc.where
    assert wrong not in proc.err + proc.out and rt.SECRET_KEY not in proc.err + proc.out
    # Unsigned requests to a server with an identity: refused, and the message says how to sign.
    proc = tfckpt.run("ls", "s3://ckpts/sharded/model",
                      env=env_for(s3.endpoint, AWS_ACCESS_KEY_ID=None,
                                  AWS_SECRET_ACCESS_KEY=None), expect_rc=2)
    assert "403" in proc.err and "not signed" in proc.err, proc.where
    assert "AWS_ACCESS_KEY_ID" in proc.err, proc.where


def test_credentials_from_a_profile(tfckpt, s3, uploaded, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n\n"
                     "[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                     % (rt.ACCESS_KEY, rt.SECRET_KEY))
    env = env_for(s3.endpoint, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                  AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="ci")
    assert tfckpt.json("ls", "s3://ckpts/sharded/model", "--json", env=env)["prefix"] == \
        "s3://ckpts/sharded/model"
    env["AWS_PROFILE"] = "default"
    proc = tfckpt.run("ls", "s3://ckpts/sharded/model", env=env, expect_rc=2)
    assert "profile 'default'" in proc.err and "403" in proc.err, proc.where
    env["AWS_PROFILE"] = "absent"
    proc = tfckpt.run("ls", "s3://ckpts/sharded/model", env=env, expect_rc=2)
    assert "AWS_PROFILE names profile 'absent'" in proc.err, proc.where


def test_endpoint_option_overrides_the_environment(tfckpt, s3, uploaded):
    env = env_for("http://127.0.0.1:9")  # nothing listens there
    doc = tfckpt.json("ls", "s3://ckpts/sharded/model", "--json", "--endpoint", s3.endpoint,
                      env=env)
    assert doc["prefix"] == "s3://ckpts/sharded/model"


def test_missing_objects_and_buckets_are_named(tfckpt, s3, uploaded):
    env = env_for(s3.endpoint)
    proc = tfckpt.run("ls", "s3://ckpts/nothing/here", env=env, expect_rc=2)
    assert "no checkpoint at 's3://ckpts/nothing/here'" in proc.err, proc.where
    proc = tfckpt.run("ls", "s3://no-such-bucket-x/model", env=env, expect_rc=2)
    assert "bucket 'no-such-bucket-x' does not exist" in proc.err, proc.where
    assert s3.endpoint in proc.err
    proc = tfckpt.run("--remote-concurrency", "2", "ls", "s3://ckpts/x",
                      env=env_for("http://127.0.0.1:9"), expect_rc=2)
    assert "http://127.0.0.1:9 (from AWS_ENDPOINT_URL)" in proc.err, proc.where


def download(s3, bucket, key_prefix, local_dir):
    """Downloads every object under `key_prefix` into `local_dir` (flat); returns their keys."""
    os.makedirs(local_dir, exist_ok=True)
    keys = [o["Key"] for o in
            s3.client.list_objects_v2(Bucket=bucket, Prefix=key_prefix).get("Contents", [])]
    for key in keys:
        s3.client.download_file(bucket, key, os.path.join(local_dir, os.path.basename(key)))
    return sorted(keys)


def keys_under(s3, bucket, prefix):
    return sorted(o["Key"] for o in
                  s3.client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_every_writing_command_writes_to_s3_and_tf_restores(tfckpt, s3, uploaded, tmp_path,
                                                            tf1_sharded, tf1_partitioned,
                                                            tf1_steps_dir):
    """Each writing command with -o s3://...: the objects, downloaded, restore in TF with the
    values of the same command written locally (read by TF too)."""
    env = env_for(s3.endpoint)
    bucket = s3.bucket("outputs")
    steps = [os.path.join(tf1_steps_dir, "model-10"), os.path.join(tf1_steps_dir, "model-20")]
    jobs = {
        "merge": ["merge", tf1_sharded, tf1_partitioned],
        "merge_remote_sources": ["merge", "s3://ckpts/sharded/model",
                                 "s3://ckpts/partitioned/model"],
        "transfer": ["transfer", "--from", tf1_sharded, "--map", "dev0/=dev0/"],
        "edit": ["edit", tf1_partitioned, "--rename", "emb=embedding", "--drop", "^plain$"],
        "average": ["average", *steps],
    }
    for job, argv in jobs.items():
        local = str(tmp_path / "local" / job / "model")
        tfckpt.run(*argv, "-o", local, env=env)
        tfckpt.run(*argv, "-o", "s3://outputs/%s/model" % job, env=env)
        keys = download(s3, bucket, job + "/", str(tmp_path / "down" / job))
        # (Between keys of one store the data files are copied whole, so their number may
        # differ from the local output's, which gathers them.)
        n = len(keys) - 1
        assert keys == sorted([job + "/model.index"] + [
            job + "/model.data-%05d-of-%05d" % (i, n) for i in range(n)]), (job, keys)
        if not argv[1].startswith("s3://"):
            assert n == len(lib.data_files(local)), (job, keys)
        got = tf.train.load_checkpoint(str(tmp_path / "down" / job / "model"))
        want = tf.train.load_checkpoint(local)
        assert got.get_variable_to_shape_map() == want.get_variable_to_shape_map(), job
        for name in want.get_variable_to_shape_map():
            assert values_equal(np.asarray(got.get_tensor(name)),
                                np.asarray(want.get_tensor(name))), (job, name)
        # And tfckpt reads it where it is.
        tfckpt.run("verify", "s3://outputs/%s/model" % job, env=env)
    assert not [d for d in os.listdir(os.environ.get("TMPDIR", "/tmp"))
                if d.startswith("tfckpt-upload-")]


def test_saved_model_output_to_s3_loads_in_tf(tfckpt, s3, saved_model_dir, tmp_path):
    """A SavedModel written to a bucket (every file of the directory, variables index last)
    loads in TF once downloaded and computes what the original computes."""
    env = env_for(s3.endpoint)
    s3.bucket("models")
    tfckpt.run("transfer", "--into", saved_model_dir, "--from", saved_model_dir,
               "-o", "s3://models/half_plus", env=env)
    keys = keys_under(s3, "models", "half_plus/")
    want = sorted("half_plus/" + os.path.relpath(os.path.join(d, f), saved_model_dir)
                  for d, _, files in os.walk(saved_model_dir) for f in files)
    assert keys == want
    out = tmp_path / "half_plus"
    for key in keys:
        path = out / os.path.relpath(key, "half_plus")
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.client.download_file("models", key, str(path))
    loaded = tf.saved_model.load(str(out))
    original = tf.saved_model.load(saved_model_dir)
    x = tf.constant([[1.0, -2.0], [0.5, 4.0]])
    assert np.array_equal(loaded(x).numpy(), original(x).numpy())
    assert tfckpt.json("ls", "s3://models/half_plus", "--json", env=env)["prefix"] == \
        "s3://models/half_plus/variables/variables"


def test_keras_outputs_to_s3_load_in_keras(tfckpt, s3, tmp_path):
    """A Keras file written to a bucket, from a local or a remote Keras file: one object, the
    same bytes as written locally, which Keras loads once downloaded."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    env = env_for(s3.endpoint)
    s3.bucket("kerasout")
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.Dense(2, name="d2")], name="seq")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.rand(4, 4), np.random.rand(4, 2), verbose=0)
    model.save(tmp_path / "m.keras")
    s3.client.upload_file(str(tmp_path / "m.keras"), "kerasout", "in/m.keras")
    tfckpt.run("edit", tmp_path / "m.keras", "--strip-optimizer",
               "-o", "s3://kerasout/out/serving.keras", env=env)
    tfckpt.run("edit", "s3://kerasout/in/m.keras", "-o", "s3://kerasout/out/w.weights.h5",
               env=env)
    assert keys_under(s3, "kerasout", "out/") == ["out/serving.keras", "out/w.weights.h5"]
    down = tmp_path / "down"
    down.mkdir()
    for name in ("serving.keras", "w.weights.h5"):
        s3.client.download_file("kerasout", "out/" + name, str(down / name))
    tfckpt.run("edit", tmp_path / "m.keras", "--strip-optimizer", "-o", tmp_path / "local.keras")
    assert (down / "serving.keras").read_bytes() == (tmp_path / "local.keras").read_bytes()
    x = np.random.rand(3, 4)
    served = keras.saving.load_model(down / "serving.keras", compile=False)
    assert np.array_equal(served.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = keras.saving.load_model(tmp_path / "m.keras")
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    fresh.load_weights(down / "w.weights.h5")
    assert np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    # Sharded weights: the shards and their map, the same bytes as written locally.
    tfckpt.run("edit", "s3://kerasout/in/m.keras", "-o", "s3://kerasout/sh/m.weights.json",
               "--max-shard-size", "64", env=env)
    tfckpt.run("edit", tmp_path / "m.keras", "-o", tmp_path / "sh" / "m.weights.json",
               "--max-shard-size", "64")
    local = sorted(os.listdir(tmp_path / "sh"))
    assert len(local) > 2 and keys_under(s3, "kerasout", "sh/") == ["sh/" + n for n in local]
    (down / "sh").mkdir()
    for name in local:
        s3.client.download_file("kerasout", "sh/" + name, str(down / "sh" / name))
        assert (down / "sh" / name).read_bytes() == (tmp_path / "sh" / name).read_bytes(), name
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    fresh.load_weights(down / "sh" / "m.weights.json")
    assert np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    # Replaced (--force) by fewer shards: the old shards beyond the new ones go too.
    tfckpt.run("edit", "s3://kerasout/in/m.keras", "-o", "s3://kerasout/sh/m.weights.json",
               "--max-shard-size", "1MB", "--force", env=env)
    assert keys_under(s3, "kerasout", "sh/") == ["sh/m.weights.json", "sh/m_00000.weights.h5"]
    for name in ("m.weights.json", "m_00000.weights.h5"):
        s3.client.download_file("kerasout", "sh/" + name, str(down / "sh" / name))
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    fresh.load_weights(down / "sh" / "m.weights.json")
    assert np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    # An existing object is replaced only when asked.
    proc = tfckpt.run("edit", tmp_path / "m.keras", "-o", "s3://kerasout/out/w.weights.h5",
                      env=env, expect_rc=2)
    assert "already exists" in proc.err, proc.err
    assert not [d for d in os.listdir(os.environ.get("TMPDIR", "/tmp"))
                if d.startswith("tfckpt-upload-")]


def test_remote_output_overwrite_needs_force(tfckpt, s3, tf1_sharded, tf1_plain, tmp_path):
    env = env_for(s3.endpoint)
    s3.bucket("overwrite")
    tfckpt.run("merge", tf1_sharded, "-o", "s3://overwrite/m/model", env=env)
    before = keys_under(s3, "overwrite", "m/")
    proc = tfckpt.run("merge", tf1_plain, "-o", "s3://overwrite/m/model", env=env, expect_rc=2)
    assert "already exists" in proc.err and "--force" in proc.err, proc.where
    assert keys_under(s3, "overwrite", "m/") == before
    tfckpt.run("merge", tf1_plain, "-o", "s3://overwrite/m/model", "--force", env=env)
    download(s3, "overwrite", "m/", str(tmp_path / "d"))
    got = tf.train.load_checkpoint(str(tmp_path / "d" / "model"))
    want = tf.train.load_checkpoint(tf1_plain)
    assert sorted(got.get_variable_to_shape_map()) == sorted(want.get_variable_to_shape_map())


def test_web_addresses_are_not_outputs(tfckpt, s3, tf1_plain, tmp_path):
    proc = tfckpt.run("merge", tf1_plain, "-o", "%s/public/x" % s3.endpoint,
                      env=env_for(s3.endpoint), cwd=tmp_path, expect_rc=2)
    assert "web address" in proc.err, proc.where
    assert os.listdir(tmp_path) == []


def test_damaged_remote_data_is_caught(tfckpt, s3, tmp_path):
    local = str(tmp_path / "model")
    lib.save_tensors(local, {"a": np.arange(1000, dtype=np.float32),
                             "b": np.ones(10, np.float64)})
    bucket = s3.bucket("damaged")
    s3.upload_checkpoint(local, bucket, "model")
    data = bytearray(open(local + ".data-00000-of-00001", "rb").read())
    data[100] ^= 0xFF  # inside "a"
    s3.client.put_object(Bucket=bucket, Key="model.data-00000-of-00001", Body=bytes(data))
    env = env_for(s3.endpoint)
    proc = tfckpt.run("verify", "s3://damaged/model", env=env, expect_rc=1)
    assert "a" in proc.out + proc.err and "checksum mismatch" in proc.out + proc.err, proc.where
    out = str(tmp_path / "out" / "model")
    proc = tfckpt.run("merge", "s3://damaged/model", "-o", out, env=env, expect_rc=2)
    assert not os.path.exists(out + ".index")


def test_anonymous_server_and_plain_http_urls(tfckpt, tmp_path_factory, tf1_sharded):
    server = rt.S3Server(tmp_path_factory.mktemp("s3anon"), identity=False)
    try:
        server.bucket("public")
        server.upload_checkpoint(tf1_sharded, "public", "m/model")
        env = env_for(server.endpoint, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        want = tfckpt.json("ls", tf1_sharded, "--json")["tensors"]
        assert tfckpt.json("ls", "s3://public/m/model", "--json", env=env)["tensors"] == want
        url = "%s/public/m/model" % server.endpoint
        assert tfckpt.json("ls", url, "--json", env=env)["tensors"] == want
        tfckpt.run("verify", url + ".index", env=env)
        proc = tfckpt.run("ls", url + "-missing", env=env, expect_rc=2)
        assert "no checkpoint at" in proc.err, proc.where
    finally:
        server.stop()


# --- faults: the proxy ------------------------------------------------------------------------

@pytest.fixture
def big_remote(s3, tmp_path_factory):
    """A checkpoint of ~20 MB in two data files, whose reads take several ranged GETs."""
    d = tmp_path_factory.mktemp("big")
    local = str(d / "model")
    rng = np.random.default_rng(11)
    tensors = {"t%d" % i: rng.standard_normal(1 << 20).astype(np.float32) for i in range(5)}
    lib.save_tensors(local, tensors)
    bucket = s3.bucket("big")
    if "Contents" not in s3.client.list_objects_v2(Bucket=bucket, Prefix="model."):
        s3.upload_checkpoint(local, bucket, "model")
    return local, tensors


def read_all_through(proxy, env_extra=None, part_size=1 << 20, max_attempts=6):
    return python_in(env_for(proxy.endpoint, **(env_extra or {})), (
        "import json, hashlib, tfckpt\n"
        "tfckpt.set_remote_options(part_size=%d, max_attempts=%d, concurrency=4)\n"
        "c = tfckpt.open('s3://big/model')\n"
        "out = {n: hashlib.sha256(c.read(n).tobytes()).hexdigest() for n in c.names()}\n"
        "print(json.dumps({'values': out, 'counters': tfckpt.remote_counters()}))\n")
        % (part_size, max_attempts))


def sha(a):
    import hashlib
    return hashlib.sha256(a.tobytes()).hexdigest()


def test_reads_survive_throttling_drops_and_short_bodies(proxy, big_remote):
    local, tensors = big_remote
    want = {n: sha(v) for n, v in tensors.items()}
    # Every third request answered 503 SlowDown; every fifth GET dropped mid-body; every
    # seventh cut short; some delayed.
    def fault(method, path, n):
        if n % 3 == 1:
            return "503"
        if method == "GET" and n % 5 == 2:
            return "drop"
        if method == "GET" and n % 7 == 4:
            return "short"
        if n % 11 == 0:
            return 0.05
        return None
    proxy.reset(fault)
    got = read_all_through(proxy)
    assert got["values"] == want
    assert got["counters"]["retries"] > 0
    statuses = [r[3] for r in proxy.requests]
    assert 503 in statuses
    # A dropped body was resumed: some GET asked for a range that starts inside an earlier one.
    ranges = [r[2] for r in proxy.requests if r[0] == "GET" and r[2]]
    starts = {int(r.split("=")[1].split("-")[0]) for r in ranges}
    assert any(s % (1 << 20) != 0 for s in starts if s > 0), ranges


def test_persistent_server_errors_fail_with_the_status(tfckpt, proxy, big_remote):
    proxy.reset(lambda method, path, n: "500")
    proc = tfckpt.run("ls", "s3://big/model", env=env_for(proxy.endpoint), expect_rc=2)
    assert "HTTP 500 InternalError" in proc.err and "attempts" in proc.err, proc.where
    assert len(proxy.requests) >= 8


def merge_through(proxy, local, output, max_attempts):
    """tfckpt.merge([local], output) through the proxy, in parts of 5 MiB; returns
    {"error": message or None, "counters": ...}."""
    return python_in(env_for(proxy.endpoint), (
        "import json, tfckpt\n"
        "tfckpt.set_remote_options(part_size=5 << 20, max_attempts=%d, concurrency=4)\n"
        "try:\n"
        "    tfckpt.merge([%r], %r)\n"
        "    error = None\n"
        "except tfckpt.Error as e:\n"
        "    error = str(e)\n"
        "print(json.dumps({'error': error, 'counters': tfckpt.remote_counters()}))\n")
        % (max_attempts, local, output))


def test_uploads_survive_faults_and_a_failed_one_leaves_nothing(proxy, s3, big_remote, tmp_path):
    local, tensors = big_remote
    s3.bucket("faulty")
    # Throttling and server errors on a third of the requests: retried, and the result is whole.
    proxy.reset(lambda method, path, n: "503" if n % 3 == 1 else "500" if n % 7 == 5 else None)
    got = merge_through(proxy, local, "s3://faulty/ok/model", max_attempts=8)
    assert got["error"] is None and got["counters"]["retries"] > 0, got
    methods = {r[0] for r in proxy.requests}
    assert {"POST", "PUT"} <= methods  # a multipart upload
    assert sum(1 for r in proxy.requests if r[0] == "PUT" and "partNumber=" in r[1]) >= 4
    download(s3, "faulty", "ok/", str(tmp_path / "ok"))
    reader = tf.train.load_checkpoint(str(tmp_path / "ok" / "model"))
    for name, value in tensors.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    # A part that never goes up: the command fails, the multipart upload is aborted, and nothing
    # is left under the output's name (no index, no data).
    proxy.reset(lambda method, path, n: "500" if method == "PUT" and "partNumber=2&" in path
                else None)
    got = merge_through(proxy, local, "s3://faulty/bad/model", max_attempts=2)
    assert got["error"] and "HTTP 500" in got["error"] and "writing" in got["error"], got
    assert keys_under(s3, "faulty", "bad/") == []
    assert any(r[0] == "DELETE" and "uploadId=" in r[1] for r in proxy.requests)
    # The same for the index: its PUT fails after the data went up; the data is deleted again.
    proxy.reset(lambda method, path, n: "500" if method == "PUT" and path.endswith(".index")
                else None)
    got = merge_through(proxy, local, "s3://faulty/bad2/model", max_attempts=2)
    assert got["error"] and ".index" in got["error"], got
    assert keys_under(s3, "faulty", "bad2/") == []


def test_bucket_to_bucket_merge_is_copied_by_the_store(tfckpt, s3, big_remote, tmp_path):
    """Whole data files between keys of one store are copied by the store (CopyObject): the
    client fetches the index only, and TF restores the copy."""
    local, tensors = big_remote
    env = env_for(s3.endpoint)
    got = python_in(env, (
        "import json, tfckpt\n"
        "r = tfckpt.merge(['s3://big/model'], 's3://big/copy/model')\n"
        "print(json.dumps({'data': r['data'], 'counters': tfckpt.remote_counters()}))\n"))
    data_bytes = sum(os.path.getsize(f) for f in lib.data_files(local))
    assert got["data"]["files_copied_in_store"] == 1, got
    assert got["data"]["bytes_copied_in_store"] == data_bytes, got
    assert got["counters"]["bytes"] <= os.path.getsize(local + ".index") + 64 * 1024, got
    download(s3, "big", "copy/", str(tmp_path / "copy"))
    reader = tf.train.load_checkpoint(str(tmp_path / "copy" / "model"))
    for name, value in tensors.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    proc = tfckpt.run("merge", "s3://big/model", "-o", "s3://big/copy2/model", env=env)
    assert "1 file(s) copied inside the object store" in proc.out, proc.where
    # Like a hard link, a copy by the store is not read unless asked (--verify): then damaged
    # bytes are caught and nothing is written.
    s3.upload_checkpoint(local, "big", "damaged/model")
    data = bytearray(open(lib.data_files(local)[0], "rb").read())
    data[12345] ^= 0x01
    s3.client.put_object(Bucket="big", Key="damaged/model" + lib.data_files(local)[0][len(local):],
                         Body=bytes(data))
    tfckpt.run("merge", "s3://big/damaged/model", "-o", "s3://big/copy3/model", env=env)
    proc = tfckpt.run("merge", "s3://big/damaged/model", "-o", "s3://big/copy4/model", "--verify",
                      env=env, expect_rc=2)
    assert "checksum" in proc.err, proc.where
    assert keys_under(s3, "big", "copy4/") == []


@pytest.fixture
def ranged_remote(s3, tmp_path_factory):
    """A checkpoint whose kept tensors lie in runs between dropped ones (data file order as
    written): a 1 MiB tensor alone, a 12 MiB run, a 12 MiB run ending in a small tensor."""
    d = tmp_path_factory.mktemp("ranged")
    local = str(d / "model")
    rng = np.random.default_rng(5)
    mib = (1 << 20) // 4  # float32 elements per MiB
    layout = [("a/s", mib), ("drop/x", 2 * mib)]
    layout += [("b/w%d" % i, 3 * mib) for i in range(4)] + [("drop/y", mib)]
    layout += [("d/w%d" % i, 4 * mib) for i in range(3)] + [("e/s", 16 * 1024)]
    lib.save_tensors(local, [(n, rng.standard_normal(k).astype(np.float32)) for n, k in layout])
    bucket = s3.bucket("rng")
    if "Contents" not in s3.client.list_objects_v2(Bucket=bucket, Prefix="src/"):
        s3.upload_checkpoint(local, bucket, "src/model")
    return local


def test_ranges_between_keys_are_copied_by_the_store(tfckpt, s3, proxy, ranged_remote,
                                                     tmp_path):
    """Runs of kept tensors (5 MiB and more) are copied by the store (UploadPartCopy of byte
    ranges); the local bytes before a range are completed to S3's 5 MiB part from its head. The
    client fetches the index, the lone tensor and that head only, and TF restores the result."""
    local = ranged_remote
    want = tf.train.load_checkpoint(local)
    kept = sorted(n for n in want.get_variable_to_shape_map() if not n.startswith("drop/"))
    size = {n: want.get_tensor(n).nbytes for n in want.get_variable_to_shape_map()}
    env = env_for(s3.endpoint)
    got = python_in(env, (
        "import json, tfckpt\n"
        "r = tfckpt.edit('s3://rng/src/model', 's3://rng/a/model', drop=['^drop/'])\n"
        "print(json.dumps({'data': r['data'], 'counters': tfckpt.remote_counters()}))\n"))
    mib = 1 << 20
    in_store = sum(size[n] for n in kept) - size["a/s"] - (5 * mib - size["a/s"])
    assert got["data"]["ranges_copied_in_store"] == 2, got
    assert got["data"]["bytes_range_copied_in_store"] == in_store, got
    assert got["data"]["bytes_written"] == 5 * mib, got  # the lone tensor and the head fetched
    assert got["data"]["files_copied_in_store"] == 0, got
    index = os.path.getsize(local + ".index")
    assert got["counters"]["bytes"] <= index + 5 * mib + 64 * 1024, got
    download(s3, "rng", "a/", str(tmp_path / "a"))
    reader = tf.train.load_checkpoint(str(tmp_path / "a" / "model"))
    assert sorted(reader.get_variable_to_shape_map()) == kept
    for name in kept:
        assert np.array_equal(reader.get_tensor(name), want.get_tensor(name)), name
    proc = tfckpt.run("edit", "s3://rng/src/model", "-o", "s3://rng/a2/model", "--drop", "^drop/",
                      env=env)
    assert "2 range(s) copied inside the object store (%d bytes)" % in_store in proc.out, proc.where
    # A part copy that fails: the upload is aborted and nothing is left under the output's name.
    proxy.reset(lambda method, path, n: "500" if method == "PUT" and "partNumber=2&" in path
                else None)
    got = python_in(env_for(proxy.endpoint), (
        "import json, tfckpt\n"
        "tfckpt.set_remote_options(max_attempts=2)\n"
        "try:\n"
        "    tfckpt.edit('s3://rng/src/model', 's3://rng/bad/model', drop=['^drop/'])\n"
        "    error = None\n"
        "except tfckpt.Error as e:\n"
        "    error = str(e)\n"
        "print(json.dumps(error))\n"))
    assert got and "HTTP 500" in got and "UploadPartCopy" in got, got
    assert "'s3://rng/src/model.data-00000-of-00001'" in got, got  # the source, named
    assert any(r[0] == "DELETE" and "uploadId=" in r[1] for r in proxy.requests)
    assert keys_under(s3, "rng", "bad/") == []
    proxy.reset(lambda method, path, n: None)
    # Like a whole-file copy, a range the store copies is read only with --verify: then a damaged
    # byte in it is caught and nothing is written.
    s3.upload_checkpoint(local, "rng", "damaged/model")
    data_file = lib.data_files(local)[0]
    data = bytearray(open(data_file, "rb").read())
    data[size["a/s"] + size["drop/x"] + 7 * mib] ^= 0x01  # inside b/w2
    s3.client.put_object(Bucket="rng", Key="damaged/model" + data_file[len(local):],
                         Body=bytes(data))
    proc = tfckpt.run("edit", "s3://rng/damaged/model", "-o", "s3://rng/v/model", "--drop",
                      "^drop/", "--verify", env=env, expect_rc=2)
    assert "checksum" in proc.err and "b/w2" in proc.err, proc.where
    assert keys_under(s3, "rng", "v/") == []


def test_python_writer_and_convert_write_to_s3(tfckpt, s3, tf1_plain, tmp_path):
    """tfckpt.save / Writer and convert (safetensors, .npz) write to a bucket too; TF and
    safetensors read what was put there."""
    env = env_for(s3.endpoint)
    s3.bucket("pyout")
    python_in(env, (
        "import json, numpy as np, tfckpt\n"
        "tfckpt.save('s3://pyout/saved/model', {'x': np.arange(6, dtype=np.int64).reshape(2, 3),"
        " 's': np.array([b'a', b'bc'], dtype=object)})\n"
        "print(json.dumps(None))\n"))
    download(s3, "pyout", "saved/", str(tmp_path / "saved"))
    reader = tf.train.load_checkpoint(str(tmp_path / "saved" / "model"))
    assert np.array_equal(reader.get_tensor("x"), np.arange(6).reshape(2, 3))
    assert list(reader.get_tensor("s")) == [b"a", b"bc"]
    tfckpt.run("convert", tf1_plain, "s3://pyout/conv/plain.safetensors", "--skip-unsupported",
               env=env)
    s3.client.download_file("pyout", "conv/plain.safetensors", str(tmp_path / "p.safetensors"))
    from safetensors.numpy import load_file
    got = load_file(str(tmp_path / "p.safetensors"))
    want = tf.train.load_checkpoint(tf1_plain)
    for name, value in got.items():
        assert values_equal(value, np.asarray(want.get_tensor(name))), name

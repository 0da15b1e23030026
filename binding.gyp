{
  "targets": [
    {
      "target_name": "capture_file_reader",
      "sources": ["src/capture/native/capture-file-reader.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-lpcap"]
    }
  ]
}

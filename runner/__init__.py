"""The thin queue runners (DESIGN.md section 4). Filled by the jobs issue."""

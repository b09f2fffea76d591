"""Images: templates (manifest, render), what a bootstrap builds and how (plan, bootstrap,
busybox, users), and the image cache. `lxpy.create` makes containers of them."""

def build_dir(cache, image_size): raise NotImplementedError

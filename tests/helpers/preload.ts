// placeholder; replaced by the real preload
export {};

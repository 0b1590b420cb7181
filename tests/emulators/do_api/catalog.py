"""Regions, sizes and images the emulated account sees: a small, realistic subset of DigitalOcean's catalog."""

from .core import not_found, paginate

_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]
_REGIONS = [
    # slug, name, default VPC range (one /20 per region, as DigitalOcean assigns them)
    ("nyc1", "New York 1", "10.116.0.0/20"),
    ("nyc3", "New York 3", "10.108.0.0/20"),
    ("sfo3", "San Francisco 3", "10.124.0.0/20"),
    ("tor1", "Toronto 1", "10.118.0.0/20"),
    ("ams3", "Amsterdam 3", "10.110.0.0/20"),
    ("fra1", "Frankfurt 1", "10.114.0.0/20"),
    ("lon1", "London 1", "10.106.0.0/20"),
    ("sgp1", "Singapore 1", "10.104.0.0/20"),
]
_GPU_REGIONS = ["nyc1", "tor1"]
_SIZES = [
    # slug, memory MiB, vCPUs, disk GB, transfer TB, $/month, description
    ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, "Basic"),
    ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, "Basic"),
    ("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, "Basic"),
    ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, "Basic"),
    ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, "Basic"),
    ("c-4", 8192, 4, 50, 5.0, 84.0, "CPU-Optimized"),
]
_GPU_SIZE = ("gpu-h100x1-80gb", 245760, 20, 720, 15.0, 2512.0, "H100 GPU - 1X")
_IMAGES = [
    # id, slug, name, distribution, min disk
    (170000001, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu", 7),
    (170000002, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu", 7),
    (170000003, "debian-12-x64", "12 x64", "Debian", 10),
    (170000004, "gpu-h100x1-base", "AI/ML Ready (H100)", "Ubuntu", 100),
]


def _size(slug, memory, vcpus, disk, transfer, monthly, description, regions):
    return {"slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk, "transfer": transfer,
            "price_monthly": monthly, "price_hourly": round(monthly / 672.0, 5), "regions": regions,
            "available": True, "description": description}


SIZES = {s[0]: _size(*s, regions=[r[0] for r in _REGIONS]) for s in _SIZES}
SIZES[_GPU_SIZE[0]] = _size(*_GPU_SIZE, regions=list(_GPU_REGIONS))
REGIONS = {
    slug: {"slug": slug, "name": name, "features": list(_FEATURES), "available": True,
           "sizes": [s for s, size in SIZES.items() if slug in size["regions"]]}
    for slug, name, dummy in _REGIONS
}
DEFAULT_VPC_RANGES = {slug: rng for slug, dummy, rng in _REGIONS}
IMAGES = [
    {"id": image_id, "name": name, "distribution": distro, "slug": slug, "public": True,
     "regions": list(_GPU_REGIONS) if slug.startswith("gpu-") else [r[0] for r in _REGIONS],
     "created_at": "2024-05-01T00:00:00Z", "type": "base", "min_disk_size": min_disk, "size_gigabytes": 2.4,
     "description": "%s %s" % (distro, name), "tags": [], "status": "available", "error_message": ""}
    for image_id, slug, name, distro, min_disk in _IMAGES
]


def is_gpu_size(slug):
    return slug.startswith("gpu-")


def find_region(slug):
    """The region for a slug, or for a slug prefix such as ``nyc`` (the first matching datacenter)."""
    if not isinstance(slug, str):
        return None
    if slug in REGIONS:
        return REGIONS[slug]
    return next((r for s, r in REGIONS.items() if s.rstrip("0123456789") == slug), None)


def find_image(ref):
    """An image by numeric id or slug."""
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    return next((i for i in IMAGES if ref in (i["id"], i["slug"]) and not isinstance(ref, bool)), None)


def list_regions(state, req):
    return 200, paginate(req, list(REGIONS.values()), "regions")


def list_sizes(state, req):
    return 200, paginate(req, list(SIZES.values()), "sizes")


def list_images(state, req):
    images = IMAGES
    if req.query.get("private") == "true":
        images = []
    return 200, paginate(req, images, "images")


def get_image(state, req):
    image = find_image(req.params["image"])
    if image is None:
        raise not_found()
    return 200, {"image": image}


ROUTES = [
    ("GET", r"/v2/regions", list_regions),
    ("GET", r"/v2/sizes", list_sizes),
    ("GET", r"/v2/images", list_images),
    ("GET", r"/v2/images/(?P<image>[^/]+)", get_image),
]

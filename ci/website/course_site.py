"""A small Sphinx extension for the course's website.

myst-nb writes a notebook's figure as ``<img>`` with the file name as its alt text. The staging
step (ci/website.py) puts each figure's alt text (its ``<Figure: ...>`` text form, which
``threadlab.plotting.show`` makes from the sentence the lesson gives) into the output's metadata;
here the image gets it.
"""

from myst_nb.core.render import NbElementRenderer

_render_image = NbElementRenderer.render_image


def render_image(self, data):
    nodes = _render_image(self, data)
    alt = data.output_metadata.get(data.mime_type, {}).get("alt")
    if alt:
        for node in nodes:
            node["alt"] = alt
    return nodes


def setup(app):
    NbElementRenderer.render_image = render_image
    return {"parallel_read_safe": True, "parallel_write_safe": True}

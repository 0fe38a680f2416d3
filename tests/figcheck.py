"""Test helper: is any part of a drawn figure cut off by its edges?"""


def cut_off(fig):
    """The axes of ``fig`` whose drawn artists (title, labels, tick labels, legend, annotations)
    stick out of the figure, as ``(title or index, its bounding box, the figure's)``.

    Call it after the figure was drawn (``savefig``): the layout engine has placed the axes then.
    """
    canvas = fig.canvas
    if not hasattr(canvas, "get_renderer"):
        # A figure closed with plt.close has lost its Agg canvas: draw it on a new one.
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    out = []
    for i, ax in enumerate(fig.axes):
        bb = ax.get_tightbbox(renderer)
        # One pixel of slack: antialiased glyph edges may round to the border.
        if bb is not None and (bb.x0 < box.x0 - 1 or bb.x1 > box.x1 + 1
                               or bb.y0 < box.y0 - 1 or bb.y1 > box.y1 + 1):
            out.append((ax.get_title() or i, bb.bounds, box.bounds))
    return out

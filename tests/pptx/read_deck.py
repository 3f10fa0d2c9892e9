#!/usr/bin/env python3
"""Read a deck with python-pptx and print what it holds as JSON: per slide the title,
the notes, every chart (type, title, categories, series names and values; a gap is
null), every table's cells and the number of pictures. Then save the deck with
python-pptx, open the copy again and check that it holds the same. Exit 1 on any
difference. Used by the end-to-end tests: python-pptx is one of the readers a deck
must open in."""
import json
import sys
import tempfile

from pptx import Presentation


def read(path):
    prs = Presentation(path)
    slides = []
    for s in prs.slides:
        out = {
            "title": s.shapes.title.text if s.shapes.title is not None else None,
            "notes": s.notes_slide.notes_text_frame.text if s.has_notes_slide else None,
            "charts": [],
            "tables": [],
            "pictures": 0,
            "texts": [],
        }
        for sh in s.shapes:
            if sh.has_chart:
                c = sh.chart
                plot = c.plots[0]
                out["charts"].append({
                    "type": str(c.chart_type),
                    "title": c.chart_title.text_frame.text if c.has_title else "",
                    "categories": [str(x) for x in plot.categories],
                    "series": [{"name": se.name, "values": list(se.values)} for se in plot.series],
                })
            elif sh.has_table:
                out["tables"].append([[cell.text for cell in row.cells] for row in sh.table.rows])
            elif sh.shape_type == 13:  # picture
                out["pictures"] += 1
            elif sh.has_text_frame and not sh.is_placeholder:
                out["texts"].append(sh.text_frame.text)
        slides.append(out)
    return {"slide_width": prs.slide_width, "slide_height": prs.slide_height, "slides": slides}


def main():
    first = read(sys.argv[1])
    with tempfile.NamedTemporaryFile(suffix=".pptx") as f:
        Presentation(sys.argv[1]).save(f.name)
        again = read(f.name)
    if json.dumps(first, sort_keys=True) != json.dumps(again, sort_keys=True):
        print("saved and reopened, the deck differs", file=sys.stderr)
        sys.exit(1)
    json.dump(first, sys.stdout)


main()
